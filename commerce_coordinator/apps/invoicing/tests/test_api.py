"""The billing API: who may call it, what it shows, and 4xx (never 500) for bad input; pay is idempotent."""

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import ApiWrite, Invoice

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def invoice():
    factories.start_clock_in_period()
    account = factories.account("none", lms_user_id=9004)
    factories.draft(account)
    call_command("dispatch_invoices", "--json")
    return Invoice.objects.get(account=account)


def test_anonymous_and_non_staff_callers_are_refused(client, django_user_model, invoice):
    assert client.get("/api/v1/billing/accounts/?lms_user_id=9004").status_code == 401
    django_user_model.objects.create_user("learner", password="pw")
    client.login(username="learner", password="pw")
    assert client.get(f"/api/v1/billing/invoices/{invoice.number}/").status_code == 403


def test_accounts_of_an_lms_user_and_their_invoices(staff_client, invoice):
    [account] = staff_client.get("/api/v1/billing/accounts/?lms_user_id=9004").json()["results"]
    assert (account["id"], account["has_payment_method"]) == (invoice.account_id, False)
    listed = staff_client.get(f"/api/v1/billing/accounts/{account['id']}/invoices/").json()["results"]
    assert [i["number"] for i in listed] == [invoice.number]
    assert staff_client.get("/api/v1/billing/accounts/?lms_user_id=1").json()["results"] == []


def test_an_invoice_with_lines_events_attempts_and_trace_ids(staff_client, invoice):
    body = staff_client.get(f"/api/v1/billing/invoices/{invoice.number}/").json()
    assert (body["state"], body["total"], body["attempts"]) == ("open", "10.00", 1)
    assert [line["kind"] for line in body["lines"]] == ["base"]
    assert [e["action"] for e in body["events"]] == ["create", "populate", "finalize", "charge_failed"]
    assert body["trace_ids"] and all(len(t) == 32 for t in body["trace_ids"])


@pytest.mark.parametrize(
    "url, status, error",
    [
        ("/api/v1/billing/accounts/", 400, "parse_error"),
        ("/api/v1/billing/accounts/?lms_user_id=abc", 400, "parse_error"),
        ("/api/v1/billing/accounts/999999/invoices/", 404, "not_found"),
        ("/api/v1/billing/invoices/INV-NOPE/", 404, "not_found"),
    ],
)
def test_bad_requests_get_a_json_4xx(staff_client, url, status, error):
    response = staff_client.get(url)
    assert response.status_code == status and response.json()["error"] == error


def test_pay_needs_an_idempotency_key_and_replays_its_first_answer(staff_client, invoice, gateway):
    url = f"/api/v1/billing/invoices/{invoice.number}/pay/"
    missing = staff_client.post(url, {}, content_type="application/json")
    assert missing.status_code == 400 and "Idempotency-Key" in str(missing.json()["detail"])
    half = staff_client.post(url, {"provider": "stripe"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k0")
    assert half.status_code == 400
    body = {"provider": "stripe", "payment_token": "pm_card_visa"}
    first = staff_client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 202 and first.json()["charge"] == f"inv-{invoice.pk}-a2"
    assert first.json()["invoice"]["state"] == "paid"  # charged in process (no broker)
    again = staff_client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, first.json(), "true")
    assert gateway.calls() == 1 and ApiWrite.objects.count() == 1
    other = staff_client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k2")
    assert other.status_code == 409 and "only an open invoice" in other.json()["detail"]


def test_the_admin_shows_the_chain_and_asks_for_a_reason_before_voiding(admin_client, invoice):
    page = admin_client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    assert page.status_code == 200 and b"charge_failed" in page.content and b"Event chain" in page.content
    changelist = "/admin/invoicing/invoice/"
    ask = admin_client.post(changelist, {"action": "void", "_selected_action": [invoice.pk]})
    assert ask.status_code == 200 and b"Recorded in the chain" in ask.content
    assert Invoice.objects.get(pk=invoice.pk).state == "open"
    admin_client.post(changelist, {"action": "void", "_selected_action": [invoice.pk], "apply": "1",
                                   "reason": "customer left before using it"})  # fmt: skip
    voided = Invoice.objects.get(pk=invoice.pk)
    last = voided.events.last()
    assert (voided.state, last.action, last.actor, last.reason) == (
        "void", "void", "admin:admin", "customer left before using it")  # fmt: skip


def test_admin_retry_charge_now_and_mark_uncollectible(admin_client, invoice, gateway):
    changelist = "/admin/invoicing/invoice/"
    admin_client.post(changelist, {"action": "mark_uncollectible", "_selected_action": [invoice.pk], "apply": "1",
                                   "reason": "bankrupt"})  # fmt: skip
    assert Invoice.objects.get(pk=invoice.pk).state == "uncollectible"
    response = admin_client.post(changelist, {"action": "retry_charge_now", "_selected_action": [invoice.pk],
                                              "apply": "1", "reason": "try"}, follow=True)  # fmt: skip
    assert b"only an open invoice is charged" in response.content
