"""Charging through the demo gateway on a real HTTP port (live_server): the stripe library and CloudPayments'
token API, soft and hard declines, an outage, a hang, and no second charge for an attempt."""

import json

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from waffle.testutils import override_switch

from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import clock
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceCharge, InvoiceState

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def ChargeAttempt():  # noqa: N802  (payments' durable item, read without importing the payments app)
    return apps.get_model("payments", "ChargeAttempt")


@pytest.fixture(autouse=True)
def _billing_day():
    factories.start_clock_in_period()


def dispatch(*args) -> dict:
    return json.loads(call_command("dispatch_invoices", "--json", "--period", "2026-12", *args))


def billed(card: str, **fields) -> Invoice:
    account = factories.account(card, **fields)
    factories.draft(account)
    return account


@pytest.mark.parametrize("card", ["ok", "cp_ok"])
def test_a_good_card_is_charged_once_and_the_invoice_is_paid(gateway, card):
    account = billed(card)
    with override_switch("invoicing.email_invoice_sent", active=True):
        summary = dispatch()
    invoice = Invoice.objects.get(account=account)
    assert (summary["paid"], summary["charges"], invoice.state, invoice.amount_paid) == (1, 1, "paid", invoice.total)
    [charge] = InvoiceCharge.objects.filter(invoice=invoice)
    assert (charge.idempotency_key, charge.status, charge.result) == (f"inv-{invoice.pk}-a1", "succeeded", "succeeded")
    attempt = ChargeAttempt().objects.get(idempotency_key=charge.idempotency_key)
    assert (attempt.status, attempt.attempts, attempt.charge_id) == ("done", 1, charge.charge_id)
    assert gateway.calls() == 1
    assert [m.subject for m in mail.outbox] == [f"Invoice {invoice.number} paid"]
    assert dispatch()["charges"] == 0 and gateway.calls() == 1  # a second run: no gateway call at all


@pytest.mark.parametrize("card", ["soft", "cp_soft"])
def test_a_soft_decline_is_retried_on_the_retry_days_then_left_to_dunning(gateway, card):
    account = billed(card)
    with override_switch("invoicing.email_credit_card_error", active=True):
        assert dispatch()["payment_failed"] == 1
    invoice = Invoice.objects.get(account=account)
    charge = invoice.charges.get()
    assert (charge.decline, invoice.state, invoice.attempts) == ("soft", "open", 1)
    assert "insufficient" in charge.message.lower() or charge.reject_reason == "InsufficientFunds"
    assert (invoice.next_attempt_at - invoice.finalized_at).days == 1
    assert len(mail.outbox) == 1 and "Payment failed" in mail.outbox[0].subject
    assert dispatch()["charges"] == 0  # not due yet
    for day, expected_attempts in [(1, 2), (3, 3), (5, 4), (7, 5)]:
        clock.move(days=2 if day > 1 else 1)
        assert dispatch()["charges"] == 1
        assert Invoice.objects.get(pk=invoice.pk).attempts == expected_attempts
    invoice.refresh_from_db()
    assert invoice.next_attempt_at is None and invoice.state == "open"  # the schedule is spent
    assert list(invoice.charges.values_list("idempotency_key", flat=True)) == [
        f"inv-{invoice.pk}-a{n}" for n in range(1, 6)]  # fmt: skip
    assert gateway.calls() == 5


@pytest.mark.parametrize("card", ["hard", "cp_hard"])
def test_a_hard_decline_stops_at_once(gateway, card):
    account = billed(card)
    dispatch()
    invoice = Invoice.objects.get(account=account)
    assert (invoice.charges.get().decline, invoice.next_attempt_at, invoice.state) == ("hard", None, "open")
    clock.move(days=10)
    assert dispatch()["charges"] == 0
    assert "hard decline" in invoice.events.last().reason


@pytest.mark.parametrize("card", ["down", "cp_down"])
def test_an_outage_is_retried_on_core_policy_then_dead_lettered_as_a_failed_charge(gateway, card):
    account = billed(card)
    dispatch()
    invoice = Invoice.objects.get(account=account)
    attempt = ChargeAttempt().objects.get()
    assert (attempt.status, attempt.attempts, attempt.last_status_code) == ("failed", 3, 500)
    assert "retries exhausted" in attempt.last_error
    charge = invoice.charges.get()
    assert (charge.status, charge.result, charge.decline) == ("failed", "error", "error")
    assert invoice.state == "open" and invoice.next_attempt_at is not None  # tried again the next retry day
    works = TraceNode.objects.filter(kind="work", name=f"charge inv-{invoice.pk}-a1").order_by("started_at")
    assert [w.status for w in works] == ["retry", "retry", "error"]


def test_a_hanging_gateway_times_out_and_is_retried_with_the_same_idempotency_key(gateway, settings):
    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 0.3
    settings.DEMO_GATEWAY_HANG_SECONDS = 0.6
    account = billed("hang")
    dispatch()
    attempt = ChargeAttempt().objects.get()
    assert attempt.status == "failed" and "Stripe" in attempt.last_error and attempt.attempts == 3
    assert Invoice.objects.get(account=account).charges.get().result == "error"


def test_an_account_without_a_saved_method_gets_credit_card_error_without_a_charge(gateway):
    account = billed("none")
    with override_switch("invoicing.email_credit_card_error", active=True):
        dispatch()
    assert ChargeAttempt().objects.count() == 0 and gateway.calls() == 0
    assert "no saved payment method" in mail.outbox[0].body
    assert Invoice.objects.get(account=account).state == InvoiceState.OPEN


def test_a_repeated_answer_or_request_changes_nothing(gateway):
    from commerce_coordinator.apps.invoicing import charging

    account = billed("ok")
    dispatch()
    invoice = Invoice.objects.get(account=account)
    key = f"inv-{invoice.pk}-a1"
    assert charging.record_answer(key, succeeded=False, decline="soft") == {"duplicate": key}
    assert charging.record_answer("inv-0-a1", succeeded=True) == {"ignored": "unknown attempt inv-0-a1"}
    # The payments receiver asked again for the same attempt: the same row, no second call.
    receiver = apps.get_app_config("payments").module.charges.request_charges
    request = {"invoice_number": invoice.number, "amount": str(invoice.total), "currency": "USD", "provider": "stripe",
               "payment_token": "pm_card_visa", "idempotency_key": key, "lms_user_id": 9001}  # fmt: skip
    again = receiver(None, charges=[request])
    assert again == {"requested": 1, "created": 0, "existing": 1} and gateway.calls() == 1
    assert ChargeAttempt().objects.filter(idempotency_key=key).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).version == invoice.version


@pytest.mark.parametrize("card", ["charged_hang", "cp_charged_hang"])
def test_an_attempt_whose_answer_was_lost_is_reconciled_before_the_next_attempt_and_never_charged_twice(
    gateway, settings, card
):
    """ADR 0033: attempt 1 charged the card but every answer timed out (dead letter, outcome unknown); the next
    retry day's attempt 2 looks attempt 1 up at the provider first, finds the charge and calls nothing."""
    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 0.3
    settings.DEMO_GATEWAY_HANG_SECONDS = 0.6
    account = billed(card)
    dispatch()
    invoice = Invoice.objects.get(account=account)
    first = ChargeAttempt().objects.get()
    assert (first.status, first.result, first.attempts) == ("failed", "error", 3)
    assert (invoice.state, invoice.charges.get().result) == ("open", "error")
    [charge] = apps.get_model("demo_gateway", "DemoCharge").objects.all()  # ...yet it was charged
    assert charge.calls == 3

    clock.move(days=1)
    assert dispatch()["charges"] == 1  # attempt 2 is requested on the retry day
    invoice.refresh_from_db()
    assert (invoice.state, invoice.amount_paid, invoice.attempts) == ("paid", invoice.total, 2)
    assert apps.get_model("demo_gateway", "DemoCharge").objects.count() == 1  # exactly one charge at the provider
    first.refresh_from_db()
    second = ChargeAttempt().objects.get(idempotency_key=f"inv-{invoice.pk}-a2")
    assert (first.status, first.result) == ("done", "succeeded") and first.charge_id
    assert (second.status, second.result) == ("done", "not_charged") and first.idempotency_key in second.message
    a1, a2 = invoice.charges.order_by("attempt")
    assert (a1.status, a1.charge_id, a2.status, a2.result) == ("succeeded", first.charge_id, "failed", "not_charged")
    [audit] = WorkAudit.objects.filter(item_id=str(first.pk))
    assert (audit.action, audit.actor) == ("confirm", f"reconcile:inv-{invoice.pk}-a2")
    assert TraceNode.objects.filter(kind="work", name=f"reconcile inv-{invoice.pk}-a1", status="ok").exists()
    clock.move(days=3)
    assert dispatch()["charges"] == 0  # paid: nothing more


def test_an_unknown_outcome_the_provider_never_charged_is_recorded_and_the_next_attempt_charges(gateway):
    account = billed("down")  # every call answers 500: nothing was charged
    dispatch()
    invoice = Invoice.objects.get(account=account)
    account.payment_token = "pm_card_visa"  # the owner's card works again
    account.save(update_fields=["payment_token"])
    clock.move(days=1)
    dispatch()
    invoice.refresh_from_db()
    first = ChargeAttempt().objects.get(idempotency_key=f"inv-{invoice.pk}-a1")
    assert (first.status, first.result) == ("failed", "not_charged") and "not charged" in first.message
    assert WorkAudit.objects.get(item_id=str(first.pk)).action == "reconcile"
    assert invoice.state == "paid" and gateway.calls() == 1


def test_while_the_lookup_fails_the_next_attempt_calls_nothing_and_retries(gateway, settings, monkeypatch):
    from commerce_coordinator.apps.core import retries

    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 0.3
    settings.DEMO_GATEWAY_HANG_SECONDS = 0.6
    account = billed("charged_hang")
    dispatch()
    clients = apps.get_app_config("payments").module.clients

    def search_down(**kwargs):
        raise retries.RetryableError("Stripe answered 503", status_code=503)

    monkeypatch.setitem(clients.FINDERS, "stripe", search_down)
    clock.move(days=1)
    dispatch()
    second = ChargeAttempt().objects.get(idempotency_key=f"inv-{Invoice.objects.get(account=account).pk}-a2")
    assert (second.status, second.result) == ("failed", "error") and "503" in second.last_error
    assert apps.get_model("demo_gateway", "DemoCharge").objects.count() == 1  # attempt 2 never called
