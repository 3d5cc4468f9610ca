"""Health, the signal map and the trace endpoints: staff only, JSON everywhere, no 500 on bad input."""

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, order_placed

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

ROUTES = {
    PREFIX + "order_placed": [PREFIX + "record", PREFIX + "explode"],
    PREFIX + "nested_signal": [PREFIX + "nested_receiver"],
}


def test_health_reports_each_dependency(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {body["database"]["status"], body["cache"]["status"], body["broker"]["status"]} == {"ok"}


def test_health_is_503_when_the_broker_is_down(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from commerce_coordinator.apps.core import testing

    testing._use_broker("redis://127.0.0.1:1/0", "unused", eager=False)
    try:
        response = client.get("/health/")
    finally:
        testing._use_broker("memory://", settings.CELERY_TASK_DEFAULT_QUEUE, eager=True)
    assert response.status_code == 503
    assert response.json()["broker"]["status"] == "down"


def test_health_is_503_when_the_cache_is_down(client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["cache"]["status"] == "down"


@pytest.mark.parametrize("url", ["/core/signals/", "/core/traces/", "/core/traces/" + "a" * 32 + "/"])
def test_debug_endpoints_are_staff_only(client, django_user_model, url):
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    django_user_model.objects.create_user("learner", password="pw")
    client.login(username="learner", password="pw")
    forbidden = client.get(url)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "permission_denied"


def test_signal_map_shows_each_entry_and_its_check_status(staff_client):
    bad = {PREFIX + "order_placed": [PREFIX + "record", PREFIX + "no_such_receiver"]}
    with override_settings(CC_SIGNALS=bad):
        body = staff_client.get("/core/signals/").json()
    [entry] = body["signals"]
    assert entry["arguments"] == {"order_number": "str", "count": "int"}
    ok, broken = entry["receivers"]
    assert ok["status"] == "ok" and ok["mode"] == "in_process"
    assert broken["status"] == "error" and broken["problems"][0]["id"] == "core.E004"
    assert any(w["id"] == "core.W001" for w in body["warnings"])


@override_settings(CC_SIGNALS=ROUTES)
def test_trace_list_filters_and_paginates(staff_client):
    failed = order_placed.send("t", order_number="L-1", count=1)
    from commerce_coordinator.apps.core.tests.fixtures import nested_signal

    ok = nested_signal.send("t", order_number="L-2")
    body = staff_client.get("/core/traces/").json()
    assert body["count"] == 2
    assert [t["trace_id"] for t in body["results"]] == [ok.trace_id, failed.trace_id]  # newest first
    errors = staff_client.get("/core/traces/?status=error").json()["results"]
    assert [t["trace_id"] for t in errors] == [failed.trace_id]
    assert errors[0]["status"] == "error" and errors[0]["url"] == f"/core/traces/{failed.trace_id}/"
    by_signal = staff_client.get("/core/traces/?signal=nested_signal").json()["results"]
    assert [t["trace_id"] for t in by_signal] == [ok.trace_id]
    page = staff_client.get("/core/traces/?page_size=1&page=2").json()
    assert [t["trace_id"] for t in page["results"]] == [failed.trace_id]
    assert staff_client.get("/core/traces/?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert staff_client.get("/core/traces/?until=2999-01-01T00:00:00Z").json()["count"] == 2


@pytest.mark.parametrize("query", ["status=maybe", "since=yesterday", "page=99"])
def test_trace_list_rejects_bad_filters_with_json(staff_client, query):
    response = staff_client.get(f"/core/traces/?{query}")
    assert response.status_code in (400, 404)
    assert "error" in response.json()


@override_settings(CC_SIGNALS=ROUTES)
def test_trace_detail_is_the_tree_with_errors(staff_client):
    result = order_placed.send("tester", order_number="D-1", count=1)
    body = staff_client.get(f"/core/traces/{result.trace_id}/").json()
    assert body["status"] == "error" and body["node_count"] == 3
    [root] = body["nodes"]
    assert root["kind"] == "send" and root["sender"] == "tester"
    record, explode = root["children"]
    assert record["status"] == "ok" and record["error"] is None
    assert explode["error"]["type"] == "RuntimeError"
    assert "receiver exploded on purpose" in explode["error"]["message"]
    assert "Traceback" in explode["error"]["traceback"]
    assert {"started_at", "duration_ms", "name"} <= set(explode)


@pytest.mark.parametrize("trace_id", ["nothex", "A" * 32, "' OR 1=1 --", "a" * 33])
def test_a_malformed_trace_id_is_a_json_404(staff_client, trace_id):
    response = staff_client.get(f"/core/traces/{trace_id}/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_unknown_trace_is_a_json_404(staff_client):
    response = staff_client.get("/core/traces/" + "0" * 32 + "/")
    assert response.status_code == 404 and "No trace" in response.json()["detail"]


def test_an_unknown_url_is_a_json_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@override_settings(CC_SIGNALS=ROUTES)
def test_traces_are_browsable_in_the_admin(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(admin)
    result = order_placed.send("t", order_number="A-1", count=1)
    changelist = client.get("/admin/core/trace/")
    assert changelist.status_code == 200 and result.trace_id.encode() in changelist.content
    root_id = __import__("commerce_coordinator.apps.core.models", fromlist=["Trace"]).Trace.objects.get().id
    detail = client.get(f"/admin/core/trace/{root_id}/change/")
    assert detail.status_code == 200
    assert b"receiver exploded on purpose" in detail.content
    assert client.get("/admin/core/tracenode/?status__exact=error").status_code == 200
