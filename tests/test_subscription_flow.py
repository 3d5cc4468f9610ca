"""The subscription flow across subscriptions, invoicing and payments, through the demo gateway on a real
HTTP port: subscribe -> renewal invoice -> soft decline -> past_due -> (dunning: blocked) -> suspended ->
payment -> active, each step one trace tree."""

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import tasks as invoicing_tasks
from commerce_coordinator.apps.invoicing.models import Account, Invoice
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions import tasks
from commerce_coordinator.apps.subscriptions.models import Subscription, SubscriptionEvent

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def one_tree(trace_id: str) -> set[tuple[str, str]]:
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=trace_id)}
    roots = [n for n in nodes.values() if n.parent_id not in nodes]
    assert len(roots) == 1, [(n.kind, n.name) for n in roots]
    return {(n.kind, n.name) for n in nodes.values()}


def test_subscribe_renew_decline_suspend_pay_resume(staff_client, gateway, billing_clock):
    call_command("provision_demo_subscriptions")
    account = factories.account("ok", products=0)
    made = staff_client.post("/api/v1/billing/subscriptions/", {"account": account.pk, "plan": "demo-monthly"},
                             content_type="application/json", HTTP_IDEMPOTENCY_KEY="flow-1")  # fmt: skip
    assert made.status_code == 201, made.content
    sub = Subscription.objects.get(pk=made.json()["id"])
    assert sub.status == "active"

    # The card stops working; January's renewal is charged and soft-declined.
    Account.objects.filter(pk=account.pk).update(payment_token=factories.CARDS["soft"][1])
    billing_clock.move(days=30)
    assert tasks.renew_due()["renewed"] == 1
    sub.refresh_from_db()
    january = Invoice.objects.get(account=account, period_start="2027-01-01")
    assert (sub.status, january.state, january.attempts) == ("past_due", "open", 1)

    # Days pass: beat dispatches the retries that are due and evaluates the ladder until it blocks.
    for _day in range(15):
        billing_clock.move(days=1)
        call_command("dispatch_invoices", "--json")
        invoicing_tasks.evaluate_dunning()
    sub.refresh_from_db()
    assert sub.status == "suspended" and Account.objects.get(pk=account.pk).dunning_level == "blocked"
    assert tasks.renew_due()["renewed"] == 0  # a suspended subscription is not renewed

    paid = staff_client.post(f"/api/v1/billing/invoices/{january.number}/pay/",
                             {"provider": "stripe", "payment_token": "pm_card_visa", "reason": "new card"},
                             content_type="application/json", HTTP_IDEMPOTENCY_KEY="flow-pay")  # fmt: skip
    assert paid.status_code == 202, paid.content
    sub.refresh_from_db()
    assert sub.status == "active" and Invoice.objects.get(pk=january.pk).state == "paid"

    chain = list(SubscriptionEvent.objects.filter(subscription=sub).order_by("seq"))
    assert [(e.action, e.to_status) for e in chain] == [
        ("create", "pending"), ("activate", "active"), ("renew", "active"), ("fail_renewal", "past_due"),
        ("suspend", "suspended"), ("pay", "active"),
    ]  # fmt: skip
    # Each step is one trace tree, holding the work that caused it.
    subscribe, activate, renew, fail, suspend, pay = (one_tree(e.trace_id) for e in chain)
    assert chain[0].trace_id == chain[1].trace_id  # subscribe: the first charge answered within its trace
    assert ("send", "commerce_coordinator.apps.subscriptions.signals.subscription_periods_due") in subscribe
    assert ("send", "commerce_coordinator.apps.invoicing.signals.charges_requested") in renew
    assert ("send", "commerce_coordinator.apps.payments.signals.charge_failed") in fail
    assert ("send", "commerce_coordinator.apps.subscriptions.signals.subscription_past_due") in fail
    assert ("send", "commerce_coordinator.apps.invoicing.signals.account_overdue") in suspend
    assert ("send", "commerce_coordinator.apps.subscriptions.signals.subscription_suspended") in suspend
    assert ("send", "commerce_coordinator.apps.invoicing.signals.invoice_sent") in pay
    assert ("send", "commerce_coordinator.apps.subscriptions.signals.subscription_resumed") in pay
