"""GET /api/v1/contracts/<id>/ (describe and its fallbacks), the admin pages and action, the system checks,
and the signal map's view of the backend dispatch."""

import json
import time

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from commerce_coordinator.apps.contracts import checks, clients
from commerce_coordinator.apps.contracts.models import Contract, ManualTask, State
from commerce_coordinator.apps.contracts.plugins import PermanentError
from commerce_coordinator.apps.core.models import WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .conftest import HERE
from .test_lifecycle import new

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def a_service_jwt() -> str:
    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    now = int(time.time())
    claims = {"iss": issuer["ISSUER"], "aud": issuer["AUDIENCE"], "iat": now, "exp": now + 60}
    claims.update(preferred_username="lms_service_worker", administrator=True, version="1.2.0", scopes=[])
    return "JWT " + jwt.encode(claims, issuer["SECRET_KEY"], algorithm="HS256")


def test_the_api_shows_the_plugins_description_of_its_contract(backends, staff_client):
    contract = new("alpha", name="Contract_1")
    body = staff_client.get(f"/api/v1/contracts/{contract.pk}/").json()
    assert body["backend"] == {"name": "alpha", "contract": "Contract_1", "state": "active"}
    assert (body["name"], body["active"], body["activated"], body["backend_name"]) == (
        "Contract_1",
        True,
        True,
        "alpha",
    )
    assert [e["to_state"] for e in body["events"]] == ["created", "activating", "active"]


def test_a_service_jwt_may_read_a_contract_as_its_own_service_user(backends, client, django_user_model):
    local = django_user_model.objects.create_user("lms_service_worker", password="pw")  # same name, local
    contract = new("net")
    response = client.get(f"/api/v1/contracts/{contract.pk}/", HTTP_AUTHORIZATION=a_service_jwt())
    assert response.status_code == 200 and response.json()["backend"] == "net"
    assert django_user_model.objects.get(username="jwt:lms_service_worker").is_staff
    local.refresh_from_db()
    assert not local.is_staff  # the token never touched the local account


@pytest.mark.parametrize("backend", ["net", "broken", "slow", "gone"])
def test_with_no_description_a_failing_or_slow_one_the_bare_backend_name_is_shown(backends, staff_client, backend):
    contract = new("net")
    Contract.objects.filter(pk=contract.pk).update(backend=backend)  # "gone": no longer configured at all
    with override_settings(CONTRACTS_DESCRIBE_TIMEOUT=0.2):
        started = time.monotonic()
        response = staff_client.get(f"/api/v1/contracts/{contract.pk}/")
    assert response.status_code == 200 and response.json()["backend"] == backend
    assert time.monotonic() - started < 0.9  # the slow plugin's 1 s is not waited for


def test_unknown_contracts_and_callers_get_json_errors(backends, staff_client):
    assert staff_client.get("/api/v1/contracts/999999/").json()["error"] == "not_found"
    contract = new("net")
    client = Client()  # anonymous
    response = client.get(f"/api/v1/contracts/{contract.pk}/")
    assert response.status_code in (401, 403) and "error" in response.json()
    assert client.get(f"/api/v1/contracts/{contract.pk}/", HTTP_AUTHORIZATION="JWT nonsense").status_code == 401


def test_the_admin_shows_contracts_and_manual_tasks_and_retries_with_a_reason(backends, admin_client):
    backends.SCRIPT["alpha"] = [PermanentError("backend said no")]
    contract = new("alpha")
    assert admin_client.get("/admin/contracts/contract/").status_code == 200
    page = admin_client.get(f"/admin/contracts/contract/{contract.pk}/change/").content.decode()
    assert "activation_failed" in page and "backend said no" in page  # the event log says why
    tasks = admin_client.get("/admin/contracts/manualtask/").content.decode()
    assert "backend said no" in tasks
    task = ManualTask.objects.get()
    form = {"action": "retry", "_selected_action": [task.pk]}
    asked = admin_client.post("/admin/contracts/manualtask/", form)
    assert asked.status_code == 200 and b"What was fixed" in asked.content and not WorkAudit.objects.exists()
    done = admin_client.post("/admin/contracts/manualtask/", {**form, "reason": "token rotated"})
    assert done.status_code == 302
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE and WorkAudit.objects.get().reason == "token rotated"


def test_the_admin_suspends_and_clears_for_reason_admin(backends, admin_client):
    contract = new("beta")
    admin_client.post("/admin/contracts/contract/", {"action": "suspend_by_admin", "_selected_action": [contract.pk]})
    contract.refresh_from_db()
    assert contract.suspension_reasons == ["admin"] and contract.events.last().actor == "admin:admin"
    admin_client.post(
        "/admin/contracts/contract/", {"action": "clear_admin_suspension", "_selected_action": [contract.pk]}
    )
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE


@pytest.mark.parametrize(
    "path, check_id",
    [
        ("commerce_coordinator.apps.nowhere.Plugin", "contracts.E001"),
        (f"{HERE}.plugins.NotAPlugin", "contracts.E002"),
        (42, "contracts.E003"),
    ],
)
def test_a_bad_registry_entry_is_a_system_check_error(path, check_id):
    with override_settings(CC_CONTRACT_BACKENDS={"x": path, "net": None}):
        found = checks.check_contract_backends()
    assert [m.id for m in found] == [check_id] and "CC_CONTRACT_BACKENDS['x']" in found[0].obj


def test_the_shipped_registry_passes_its_checks():
    assert checks.check_contract_backends() == []


def test_a_backend_named_in_data_but_not_configured_is_a_warning(backends):
    contract = new("net")
    Contract.objects.filter(pk=contract.pk).update(backend="legacy")
    found = checks.check_backends_in_data_are_configured(databases=["default"])
    assert [(m.id, m.obj) for m in found] == [("contracts.W001", "legacy")]
    assert checks.check_backends_in_data_are_configured(databases=None) == []


def test_the_signal_map_shows_where_the_dispatch_sends_each_backend(staff_client, capsys):
    document = staff_client.get("/core/signals/").json()
    entry = next(s for s in document["signals"] if s["signal"].endswith("contracts.signals.contract_activating"))
    description = entry["receivers"][0]["description"]
    assert "smt -> commerce_coordinator.apps.backends.smt.plugin.SmtBackend" in description
    assert "net -> (no plugin" in description
    call_command("show_signals")
    assert "telmex -> commerce_coordinator.apps.backends.telmex.plugin.TelmexBackend" in capsys.readouterr().out


def test_describe_never_raises_even_for_an_unconfigured_backend(backends):
    contract = Contract(pk=1, name="x", lms_user_id=1, product="p", backend="nowhere")
    assert clients.describe(contract) == "nowhere"
    assert json.dumps(clients.describe(contract))


def test_a_contract_added_in_the_admin_is_created_through_the_lifecycle(backends, admin_client):
    form = {"name": "From admin", "lms_user_id": "9", "product": "p", "package": "", "backend": "alpha"}
    form.update({"events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"})
    assert admin_client.post("/admin/contracts/contract/add/", form).status_code == 302
    contract = Contract.objects.get(name="From admin")
    assert contract.state == State.ACTIVE and contract.events.first().actor == "admin:admin"
    refused = admin_client.post("/admin/contracts/contract/add/", {**form, "backend": "nowhere"})
    assert refused.status_code == 200 and b"is not in CC_CONTRACT_BACKENDS" in refused.content
    changed = admin_client.post(f"/admin/contracts/contract/{contract.pk}/change/", {**form, "name": "renamed"})
    assert changed.status_code == 302
    contract.refresh_from_db()
    assert contract.name == "From admin"  # read-only: a contract changes through its actions
