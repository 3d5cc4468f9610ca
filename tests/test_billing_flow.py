"""The billing flow across invoicing and payments, through the demo gateway on a real HTTP port:
dispatch -> charge -> charge_failed -> credit_card_error -> retries -> account_overdue -> payment ->
account_cleared, each charge attempt one trace tree."""

import json

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core.models import TraceKey, TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_gateway.models import DemoCharge
from commerce_coordinator.apps.invoicing import clock, tasks
from commerce_coordinator.apps.invoicing.models import Account, Invoice
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.payments.charges import ChargeAttempt
from commerce_coordinator.apps.payments.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def sent(monkeypatch):
    return factories.record_notices(monkeypatch, names_only=True)


def one_tree(trace_id: str) -> set[tuple[str, str]]:
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=trace_id)}
    roots = [n for n in nodes.values() if n.parent_id not in nodes]
    assert len(roots) == 1, [(n.kind, n.name) for n in roots]
    return {(n.kind, n.name) for n in nodes.values()}


def test_a_declined_card_climbs_the_ladder_until_the_owner_pays_and_the_account_clears(gateway, sent, staff_client):
    factories.start_clock_in_period()
    account = factories.account("soft", lms_user_id=9002)
    call_command("create_invoices", "--period", "2026-12")
    call_command("dispatch_invoices", "--json")
    invoice = Invoice.objects.get(account=account)
    assert sent == ["credit_card_error"]
    for _day in range(12):  # what Celery beat does each day: dispatch what is due, evaluate the ladder
        clock.move(days=1)
        call_command("dispatch_invoices", "--json")
        tasks.evaluate_dunning()
    invoice.refresh_from_db()
    assert invoice.attempts == 5 and invoice.state == "open" and invoice.payment_overdue
    assert sent.count("credit_card_error") == 5 and sent.count("account_overdue") == 1
    assert Account.objects.get(pk=account.pk).dunning_level == "warning"

    # Each attempt is one trace tree: the request, the durable charge, the gateway's answer, the notice.
    for charge in invoice.charges.all():
        assert charge.status == "failed" and charge.decline == "soft"
        names = one_tree(charge.trace_id)
        assert ("send", "commerce_coordinator.apps.invoicing.signals.charges_requested") in names
        assert ("work", f"charge {charge.idempotency_key}") in names
        assert ("send", "commerce_coordinator.apps.payments.signals.charge_failed") in names
        assert ("send", "commerce_coordinator.apps.invoicing.signals.credit_card_error") in names
    assert ChargeAttempt.objects.filter(invoice_number=invoice.number, status="done").count() == 5

    paid = staff_client.post(
        f"/api/v1/billing/invoices/{invoice.number}/pay/",
        {"provider": "stripe", "payment_token": "pm_card_visa", "reason": "new card"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="owner-pays-1",
    )
    assert paid.status_code == 202, paid.content
    invoice.refresh_from_db()
    assert invoice.state == "paid" and invoice.amount_paid == invoice.total
    assert sent[-2:] == ["invoice_sent", "account_cleared"]
    assert Account.objects.get(pk=account.pk).dunning_level == ""
    assert json.loads(call_command("audit_invoices", "--json"))["problems"] == []
    assert gateway.calls() == 6


def test_stripes_webhook_for_a_charge_confirms_that_same_attempt(gateway, client, admin_client):
    from django.test import override_settings

    from commerce_coordinator.apps.payments.tests.helpers import STRIPE_SECRET, post_stripe, stripe_event

    factories.start_clock_in_period()
    account = factories.account("down", lms_user_id=9005)  # every call fails: the attempt is dead-lettered
    call_command("create_invoices", "--period", "2026-12")
    call_command("dispatch_invoices", "--json")
    invoice = Invoice.objects.get(account=account)
    key = f"inv-{invoice.pk}-a1"
    assert invoice.charges.get().result == "error" and invoice.state == "open"
    intent = {"id": "pi_late", "object": "payment_intent", "status": "succeeded", "amount_received": 1000,
              "currency": "usd", "metadata": {"invoice_number": invoice.number, "charge_key": key}}  # fmt: skip
    stranger = {**intent, "id": "pi_other", "metadata": {"charge_key": "inv-0-a9"}}
    with override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
        # ...yet the provider charged it (a timeout after the charge): its webhook says so.
        assert post_stripe(client, stripe_event(obj=intent, event_id="evt_late")).status_code == 200
        assert post_stripe(client, stripe_event(obj=stranger, event_id="evt_stranger")).json()["status"] == "ignored"
    invoice.refresh_from_db()
    charge = invoice.charges.get()
    assert (invoice.state, charge.status, charge.charge_id) == ("paid", "succeeded", "pi_late")
    assert invoice.events.last().reason.startswith(f"{key} succeeded")
    # payments' own attempt records the confirmation too, audited, and shows it in the admin.
    attempt = ChargeAttempt.objects.get(idempotency_key=key)
    assert (attempt.status, attempt.result, attempt.charge_id) == ("done", "succeeded", "pi_late")
    [audit] = WorkAudit.objects.filter(item_type="payments.chargeattempt", item_id=str(attempt.pk))
    assert (audit.action, audit.actor) == ("confirm", "provider:stripe") and "was failed" in audit.outcome
    assert audit.trace_id == TraceKey.objects.get(key="event_id", value="evt_late").trace_id
    page = admin_client.get(f"/admin/payments/chargeattempt/{attempt.pk}/change/")
    assert page.status_code == 200 and "provider:stripe" in page.content.decode()
    with override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):  # the provider sends it again: no change
        assert post_stripe(client, stripe_event(obj=intent, event_id="evt_late_2")).status_code == 200
    assert WorkAudit.objects.filter(action="confirm").count() == 1


def cp_notice(name: str, invoice: Invoice, key: str, **changes) -> dict:
    """A CloudPayments notification of one of our token charges (tests/fixtures/cloudpayments/, README)."""
    from commerce_coordinator.apps.payments.tests.test_provider_payloads import cp

    data = json.dumps({"charge_key": key, "invoice_number": invoice.number})
    return cp(name, InvoiceId=invoice.number, AccountId=str(invoice.account.lms_user_id), Data=data,
              Amount=str(invoice.total), Description=f"Invoice {invoice.number}", **changes)  # fmt: skip


def test_cloudpayments_pay_and_fail_notifications_of_a_token_charge_answer_that_same_attempt(gateway, client):
    from django.test import override_settings

    from commerce_coordinator.apps.payments.tests.helpers import CP_SECRET, post_cp

    factories.start_clock_in_period()
    down = factories.account("cp_down", lms_user_id=9006)  # every call fails: the attempt is dead-lettered
    soft = factories.account("cp_soft", lms_user_id=9007)  # declined at once (the API's answer)
    call_command("create_invoices", "--period", "2026-12")
    call_command("dispatch_invoices", "--json")
    lost, declined = Invoice.objects.get(account=down), Invoice.objects.get(account=soft)
    lost_key, declined_key = f"inv-{lost.pk}-a1", f"inv-{declined.pk}-a1"
    assert lost.charges.get().result == "error" and declined.charges.get().decline == "soft"
    sent = DemoCharge.objects.get(idempotency_key=declined_key).response["Model"]["JsonData"]
    assert json.loads(sent) == {"charge_key": declined_key, "invoice_number": declined.number}  # what names it
    with override_settings(CLOUDPAYMENTS_API_SECRETS=[CP_SECRET]):
        check = post_cp(client, "check", cp_notice("check", lost, lost_key))
        assert check.json() == {"code": 0}  # our own token charge is never declined by our check
        # The charge went through after all: CloudPayments' Pay notification says so.
        assert post_cp(client, "pay", cp_notice("pay_token_charge", lost, lost_key)).json() == {"code": 0}
        # The Fail notification of a decline the API already answered: the same answer, changes nothing.
        fail = cp_notice("fail_token_charge", declined, declined_key)
        assert post_cp(client, "fail", fail).json() == {"code": 0}
        stranger = cp_notice("pay_token_charge", lost, "inv-0-a9", TransactionId="1211507999")
        assert post_cp(client, "pay", stranger).json() == {"code": 0}
    lost.refresh_from_db(), declined.refresh_from_db()
    charge = lost.charges.get()
    assert (lost.state, charge.status, charge.charge_id) == ("paid", "succeeded", "1211507001")
    attempt = ChargeAttempt.objects.get(idempotency_key=lost_key)
    assert (attempt.status, attempt.result, attempt.charge_id) == ("done", "succeeded", "1211507001")
    assert WorkAudit.objects.get(action="confirm").actor == "provider:cloudpayments"
    assert (declined.state, declined.attempts, declined.charges.get().decline) == ("open", 1, "soft")
    events = {e.event_id: (e.status, e.signal) for e in WebhookEvent.objects.all()}
    assert events["pay:1211507001"] == ("done", "charge_succeeded")
    assert events["fail:1211507002"] == ("done", "charge_failed")
    assert events["pay:1211507999"][0] == "unroutable"


def test_dunning_suspends_the_owners_contracts_at_blocked_and_payment_resumes_them(gateway, backends, staff_client):
    from commerce_coordinator.apps.contracts.tests.test_lifecycle import new

    factories.start_clock_in_period()
    account = factories.account("soft", lms_user_id=9002)
    contract = new("alpha", user=9002, name="hosting for 9002")
    call_command("create_invoices", "--period", "2026-12")
    call_command("dispatch_invoices", "--json")
    invoice = Invoice.objects.get(account=account)
    clock.move(days=15)  # past the 14 days of `blocked`
    tasks.evaluate_dunning()
    contract.refresh_from_db()
    assert (Account.objects.get(pk=account.pk).dunning_level, contract.state) == ("blocked", "suspended")
    assert contract.suspension_reasons == ["overdue"] and invoice.number in contract.events.last().why
    paid = staff_client.post(
        f"/api/v1/billing/invoices/{invoice.number}/pay/",
        {"provider": "stripe", "payment_token": "pm_card_visa"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="pay-9002",
    )
    assert paid.status_code == 202
    contract.refresh_from_db()
    assert contract.state == "active" and contract.suspension_reasons == []
