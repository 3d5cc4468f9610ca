"""Refunds of paid invoices through the demo gateway on a real HTTP port (live_server): the stripe library's
refund and CloudPayments' POST /payments/refund, partial and full, refusals that write nothing, a refund the
provider fails, an outage retried on core's policy then dead-lettered, and the API, admin and command."""

import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import operations, refunds
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceEvent, InvoiceRefund

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def RefundAttempt():  # noqa: N802  (payments' durable item, read without importing the payments app)
    return apps.get_model("payments", "RefundAttempt")


@pytest.fixture(autouse=True)
def _billing_day(settings):
    factories.start_clock_in_period()
    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 15  # not about timeouts: a loaded machine's slow live server is fine


def refund(invoice: Invoice, amount=None, reason="the customer asked") -> InvoiceRefund:
    made = refunds.request_refund(invoice.number, amount, reason, "tester")
    made.refresh_from_db()
    invoice.refresh_from_db()
    return made


@pytest.mark.parametrize("card", ["ok", "cp_ok"])
def test_a_paid_invoice_is_refunded_in_part_then_in_full_and_stays_paid(gateway, card):
    invoice = factories.paid(card)
    first = refund(invoice, Decimal("4.00"))
    assert (first.idempotency_key, first.status, first.amount) == (f"inv-{invoice.pk}-r1", "succeeded", Decimal("4"))
    assert first.payment_id == invoice.charges.get().charge_id and first.refund_id
    rest = refund(invoice)  # no amount: all that is still refundable
    assert (rest.idempotency_key, rest.status, rest.amount) == (f"inv-{invoice.pk}-r2", "succeeded", Decimal("6"))
    assert (invoice.state, invoice.amount_paid, invoice.amount_refunded) == ("paid", Decimal("10"), Decimal("10"))
    chain = list(invoice.events.values_list("action", "from_state", "to_state").order_by("seq"))[-4:]
    assert chain == [("refund", "paid", "paid"), ("refunded", "paid", "paid")] * 2
    attempts = RefundAttempt().objects.order_by("pk")
    assert [(a.idempotency_key, a.status, a.attempts, a.refund_id) for a in attempts] == [
        (first.idempotency_key, "done", 1, first.refund_id),
        (rest.idempotency_key, "done", 1, rest.refund_id),
    ]
    assert gateway.refund_calls() == 2
    with pytest.raises(refunds.RefundRefused, match="nothing left to refund"):
        refund(invoice)
    assert json.loads(call_command("audit_invoices", "--json"))["problems"] == []


def test_refusals_say_why_and_write_nothing(gateway):
    invoice = factories.paid("ok")
    open_invoice = factories.draft(factories.account("none", lms_user_id=9100))
    call_command("dispatch_invoices", "--json", "--period", "2026-12")
    open_invoice.refresh_from_db()
    events = InvoiceEvent.objects.count()
    cases = [
        (invoice.number, Decimal("10.01"), "cannot refund 10.01 USD, more than the 10.00 still refundable"),
        (invoice.number, Decimal("0"), "positive with at most 2 decimals"),
        (invoice.number, Decimal("1.005"), "positive with at most 2 decimals"),
        (open_invoice.number, None, f"invoice {open_invoice.number} is open, not paid"),
        ("INV-NOPE", None, "no invoice 'INV-NOPE'"),
    ]
    for number, amount, why in cases:
        with pytest.raises(refunds.RefundRefused, match=why):
            refunds.request_refund(number, amount, "because", "tester")
    with pytest.raises(refunds.RefundRefused, match="needs a reason"):
        refunds.request_refund(invoice.number, None, "  ", "tester")
    assert InvoiceRefund.objects.count() == 0 and RefundAttempt().objects.count() == 0
    assert InvoiceEvent.objects.count() == events and gateway.refund_calls() == 0


@pytest.mark.parametrize("card, dead_letter", [("refund_fails", False), ("cp_refund_fails", True)])
def test_a_refund_the_provider_fails_is_recorded_and_the_amount_is_refundable_again(gateway, card, dead_letter):
    invoice = factories.paid(card)
    failed = refund(invoice)
    assert failed.status == "failed" and failed.message
    attempt = RefundAttempt().objects.get()
    # Stripe took it and reports it failed (an answer); CloudPayments refused the request (a dead letter).
    assert (attempt.status, attempt.result) == (("failed", "error") if dead_letter else ("done", "failed"))
    assert invoice.amount_refunded == 0 and refunds.refundable(invoice) == invoice.amount_paid
    last = invoice.events.last()
    assert (last.action, last.to_state) == ("refund_failed", "paid") and failed.message[:20] in last.reason


@pytest.mark.parametrize("card", ["refund_down", "cp_refund_down"])
def test_an_outage_is_retried_on_core_policy_then_dead_lettered_as_a_failed_refund(gateway, card):
    invoice = factories.paid(card)
    failed = refund(invoice)
    attempt = RefundAttempt().objects.get()
    assert (attempt.status, attempt.attempts, attempt.last_status_code) == ("failed", 3, 500)
    assert "retries exhausted" in attempt.last_error
    assert (failed.status, failed.provider_status) == ("failed", "error") and "retries exhausted" in failed.message
    works = TraceNode.objects.filter(kind="work", name=f"refund {failed.idempotency_key}").order_by("started_at")
    assert [w.status for w in works] == ["retry", "retry", "error"]
    assert refunds.refundable(invoice) == invoice.amount_paid  # released: an operator may try again


def test_the_api_refunds_once_per_idempotency_key_and_answers_409_with_the_reason(gateway, staff_client):
    invoice = factories.paid("ok")
    url = f"/api/v1/billing/invoices/{invoice.number}/refund/"
    missing = staff_client.post(url, {"reason": "x"}, content_type="application/json")
    assert missing.status_code == 400 and "Idempotency-Key" in str(missing.json()["detail"])
    bad = staff_client.post(url, {"amount": "abc", "reason": "x"}, content_type="application/json",
                            HTTP_IDEMPOTENCY_KEY="r0")  # fmt: skip
    assert bad.status_code == 400 and "amount" in str(bad.json()["detail"])
    body = {"amount": "3.00", "reason": "one lesson was cancelled"}
    first = staff_client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r1")
    assert first.status_code == 202, first.content
    assert (first.json()["refund"]["status"], first.json()["refund"]["amount"]) == ("requested", "3.00")
    again = staff_client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r1")
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, first.json(), "true")
    too_much = staff_client.post(url, {"amount": "8.00", "reason": "x"}, content_type="application/json",
                                 HTTP_IDEMPOTENCY_KEY="r2")  # fmt: skip
    assert too_much.status_code == 409 and "more than the 7.00 still refundable" in too_much.json()["detail"]
    shown = staff_client.get(f"/api/v1/billing/invoices/{invoice.number}/").json()
    assert (shown["state"], shown["amount_refunded"]) == ("paid", "3.00")
    assert [(r["status"], r["actor"]) for r in shown["refunds"]] == [("succeeded", "api:staff")]
    assert shown["refunds"][0]["trace_id"] in shown["trace_ids"]
    assert InvoiceRefund.objects.count() == 1 and gateway.refund_calls() == 1


def test_the_refund_is_in_the_openapi_schema(staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    refund = schema["paths"]["/api/v1/billing/invoices/{number}/refund/"]["post"]
    assert {p["name"] for p in refund["parameters"]} >= {"number", "Idempotency-Key"}
    assert set(refund["responses"]) == {"202", "400", "404", "409"}
    assert "ADR 63" in refund["description"]


def test_an_operators_refund_is_audited_from_the_command_and_the_admin(gateway, admin_client):
    invoice = factories.paid("ok")
    out = json.loads(call_command("refund_invoice", invoice.number, "--amount", "2.50", "--reason", "goodwill",
                                  "--actor", "alice", "--json"))  # fmt: skip
    assert (out["refund"], out["amount"], out["status"]) == (f"inv-{invoice.pk}-r1", "2.50", "succeeded")
    with pytest.raises(CommandError, match="refused: .*more than the 7.50 still refundable"):
        call_command("refund_invoice", invoice.number, "--amount", "9", "--reason", "x")
    with pytest.raises(CommandError, match="--amount must be a decimal"):
        call_command("refund_invoice", invoice.number, "--amount", "NaN", "--reason", "x")
    changelist = "/admin/invoicing/invoice/"
    ask = admin_client.post(changelist, {"action": "refund", "_selected_action": [invoice.pk]})
    assert ask.status_code == 200 and b"Recorded in the chain" in ask.content
    admin_client.post(changelist, {"action": "refund", "_selected_action": [invoice.pk], "apply": "1",
                                   "reason": "course withdrawn"})  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.amount_refunded == invoice.amount_paid
    audits = WorkAudit.objects.filter(item_type="invoicing.invoice", action="refund").order_by("created_at")
    expected = [("operator:alice", "goodwill"), ("admin:admin", "course withdrawn")]
    assert [(a.actor, a.reason) for a in audits] == expected
    assert all(a.trace_id for a in audits)
    page = admin_client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    assert page.status_code == 200 and f"inv-{invoice.pk}-r2".encode() in page.content
    with pytest.raises(refunds.RefundRefused, match="nothing left"):
        operations.refund(invoice, "admin:admin", "again")


@pytest.mark.mysql_only
def test_two_refunds_at_once_never_refund_more_than_was_paid(gateway, monkeypatch):
    """MariaDB: the invoice's row lock makes the second request wait for the first one's reservation."""
    import threading
    import time

    from django.db import connections

    invoice = factories.paid("ok")
    slow_send = refunds._send_request

    def send_slowly(refund, locked_invoice):
        time.sleep(0.5)  # inside the locked transaction: the other request must wait here, not read past it
        slow_send(refund, locked_invoice)

    monkeypatch.setattr(refunds, "_send_request", send_slowly)
    outcomes = []

    def request(n):
        try:
            outcomes.append(refunds.request_refund(invoice.number, Decimal("6.00"), f"request {n}", f"t{n}").status)
        except refunds.RefundRefused as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2 and outcomes.count("requested") == 1, outcomes
    assert "more than the 4.00 still refundable" in next(o for o in outcomes if o != "requested")
    invoice.refresh_from_db()
    assert invoice.amount_refunded == Decimal("6.00") and InvoiceRefund.objects.count() == 1
