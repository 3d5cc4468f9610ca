"""Subscriptions billed through invoicing, over simulated periods with a movable clock, charged through the
demo gateway on a real HTTP port: the first period, renewals once per period (a scheduler that runs twice, a
lost beat run, a page that fails half-way), cancel at period end, a retired plan, a trial, a first period
whose month's invoice was already out, an unpaid first period, and refusals."""

import datetime as dt
from decimal import Decimal

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import billing as invoicing_billing
from commerce_coordinator.apps.invoicing.models import Invoice, Product
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions import operations, renewals, tasks
from commerce_coordinator.apps.subscriptions.models import Plan, Renewal, Subscription, SubscriptionEvent

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def plan():
    return Plan.objects.create(code="monthly", name="Monthly", price=Decimal("9.90"), currency="USD")


def fresh(sub: Subscription) -> Subscription:
    return Subscription.objects.select_related("plan").get(pk=sub.pk)


def periods_billed(account) -> list[tuple[str, str]]:
    return [
        (f"{i.period_start:%Y-%m}", i.state) for i in Invoice.objects.filter(account=account).order_by("period_start")
    ]


def test_a_subscription_is_billed_once_per_period_whatever_the_scheduler_does(
    gateway, billing_clock, plan, monkeypatch
):
    account = factories.account("ok", products=0)
    sub = operations.subscribe(account.pk, "monthly", "test")
    sub = fresh(sub)
    assert sub.status == "active"  # the first period's charge answered (in process) and was paid
    assert (sub.current_period_start, sub.current_period_end, sub.renews_on) == (
        dt.date(2026, 12, 1), dt.date(2026, 12, 31), dt.date(2027, 1, 1)
    )  # fmt: skip
    assert periods_billed(account) == [("2026-12", "paid")]
    assert Product.objects.get(account=account).name == f"Monthly [subscription {sub.pk}]"

    billing_clock.move(days=30)  # 2027-01-01 12:00: January is due
    assert tasks.renew_due()["renewed"] == 1
    assert tasks.renew_due()["renewed"] == 0  # the scheduler runs twice: nothing more
    assert periods_billed(account) == [("2026-12", "paid"), ("2027-01", "paid")]

    # A page that fails half-way (invoicing cannot dispatch) rolls back whole: no renewal, no invoice.
    billing_clock.move(days=31)  # 2027-02-01
    monkeypatch.setattr(invoicing_billing, "dispatch_invoices", lambda scope: 1 / 0)
    assert renewals.due().count() == 1
    assert renewals.renew_due()["failed"] == 1
    assert fresh(sub).renews_on == dt.date(2027, 2, 1) and not Renewal.objects.filter(period_start="2027-02-01")
    assert not Invoice.objects.filter(account=account, period_start="2027-02-01").exists()
    monkeypatch.undo()
    assert tasks.renew_due()["renewed"] == 1

    # A lost beat run (March's): the next run, days later, renews March once.
    billing_clock.move(days=30)  # 2027-03-03
    assert tasks.renew_due()["renewed"] == 1 and tasks.renew_due()["renewed"] == 0
    sub = fresh(sub)
    assert (sub.current_period_start, sub.renews_on, sub.status) == (dt.date(2027, 3, 1), dt.date(2027, 4, 1), "active")
    assert periods_billed(account) == [("2026-12", "paid"), ("2027-01", "paid"), ("2027-02", "paid"),
                                       ("2027-03", "paid")]  # fmt: skip
    assert list(Renewal.objects.filter(subscription=sub).values_list("payment", flat=True)) == ["paid"] * 4
    assert gateway.calls() == 4
    actions = list(SubscriptionEvent.objects.filter(subscription=sub).values_list("action", flat=True))
    assert actions == ["create", "activate", "renew", "renew", "renew"]


def test_cancel_at_period_end_bills_no_further_period(gateway, billing_clock, plan):
    account = factories.account("ok", products=0)
    sub = fresh(operations.subscribe(account.pk, "monthly", "test"))
    operations.cancel(sub, immediately=False, actor="test")
    assert fresh(sub).cancel_at_period_end and fresh(sub).status == "active"
    billing_clock.move(days=30)
    assert tasks.renew_due() == {"renewed": 0, "canceled": 1, "expired": 0, "refused": 0, "skipped": 0, "failed": 0,
                                 "incomplete_expired": 0}  # fmt: skip
    assert fresh(sub).status == "canceled" and not Product.objects.get(account=account).active
    assert periods_billed(account) == [("2026-12", "paid")]


def test_an_immediate_cancel_stops_the_product_at_once(gateway, billing_clock, plan):
    account = factories.account("ok", products=0)
    sub = fresh(operations.subscribe(account.pk, "monthly", "test"))
    operations.cancel(sub, immediately=True, actor="test")
    assert fresh(sub).status == "canceled" and fresh(sub).renews_on is None
    assert not Product.objects.get(account=account).active


def test_a_retired_plan_is_not_renewed(gateway, billing_clock, plan):
    account = factories.account("ok", products=0)
    sub = operations.subscribe(account.pk, "monthly", "test")
    Plan.objects.filter(pk=plan.pk).update(active=False)
    billing_clock.move(days=30)
    assert tasks.renew_due()["expired"] == 1
    assert fresh(sub).status == "expired" and not Product.objects.get(account=account).active


def test_a_trial_starts_active_and_is_billed_from_the_period_after_it(gateway, billing_clock):
    Plan.objects.create(code="trial", name="Trial", price=Decimal("5.00"), currency="USD", trial_days=14)
    account = factories.account("ok", products=0)
    sub = fresh(operations.subscribe(account.pk, "trial", "test"))
    assert (sub.status, sub.trial_ends_on, sub.renews_on) == ("active", dt.date(2026, 12, 31), dt.date(2027, 1, 1))
    assert periods_billed(account) == [] and Product.objects.get(account=account).starts_on == dt.date(2027, 1, 1)
    billing_clock.move(days=30)
    assert tasks.renew_due()["renewed"] == 1
    assert periods_billed(account) == [("2027-01", "paid")]


def test_a_first_period_after_the_months_invoice_went_out_is_free_to_the_months_end(gateway, billing_clock, plan):
    account = factories.account("ok", products=1)
    invoicing_billing.create_invoices(invoicing_billing.Scope(dt.date(2026, 12, 1), [account.pk]))
    invoicing_billing.dispatch_invoices(invoicing_billing.Scope(dt.date(2026, 12, 1), [account.pk]))
    assert periods_billed(account) == [("2026-12", "paid")]
    sub = fresh(operations.subscribe(account.pk, "monthly", "test"))
    assert (sub.status, sub.current_period_start, sub.renews_on) == (
        "active",
        dt.date(2026, 12, 2),
        dt.date(2027, 1, 1),
    )
    assert Renewal.objects.get(subscription=sub).outcome == "deferred"
    billing_clock.move(days=30)
    assert tasks.renew_due()["renewed"] == 1
    january = Invoice.objects.get(account=account, period_start="2027-01-01")
    assert january.state == "paid" and january.total == Decimal("19.90")  # the product and the subscription


def test_an_unpaid_first_period_is_incomplete_then_expires(gateway, billing_clock, plan):
    account = factories.account("none", products=0)  # no saved payment method
    sub = fresh(operations.subscribe(account.pk, "monthly", "test"))
    assert sub.status == "incomplete"
    billing_clock.move(hours=24)
    assert tasks.renew_due()["incomplete_expired"] == 1
    assert fresh(sub).status == "incomplete_expired" and not Product.objects.get(account=account).active


@pytest.mark.parametrize(
    ("account_fields", "plan_code", "why"),
    [(("ok", {"status": "closed"}), "monthly", "is closed"), (("ok", {}), "nope", "no active plan 'nope'"),
     (("cp_ok", {}), "monthly", "billed in RUB, plan monthly in USD")],
)  # fmt: skip
def test_a_subscription_that_cannot_be_billed_is_refused_and_nothing_is_kept(billing_clock, plan, account_fields,
                                                                               plan_code, why):  # fmt: skip
    account = factories.account(account_fields[0], products=0, **account_fields[1])
    with pytest.raises(operations.SubscribeRefused, match=why):
        operations.subscribe(account.pk, plan_code, "test")
    assert not Subscription.objects.exists() and not Product.objects.exists() and not Invoice.objects.exists()


def test_an_unknown_account_is_refused(billing_clock, plan):
    with pytest.raises(operations.SubscribeRefused, match="no billing account 4242"):
        operations.subscribe(4242, "monthly", "test")
    assert not Subscription.objects.exists()


def test_invoicings_own_beat_billing_the_boundary_first_still_moves_the_subscription(gateway, billing_clock, plan):
    """Invoicing's create/dispatch beat may reach the month before the renewal sweep: the charge outcome
    renews the account's due subscriptions first, so the failure still makes it past due (once)."""
    from django.core.management import call_command

    from commerce_coordinator.apps.invoicing.models import Account

    account = factories.account("ok", products=0)
    sub = operations.subscribe(account.pk, "monthly", "test")
    Account.objects.filter(pk=account.pk).update(payment_token=factories.CARDS["soft"][1])
    billing_clock.move(days=30)
    call_command("create_invoices", "--period", "2027-01", "--json")
    call_command("dispatch_invoices", "--json")
    sub = fresh(sub)
    assert (sub.status, sub.current_period_start) == ("past_due", dt.date(2027, 1, 1))
    assert Renewal.objects.get(subscription=sub, period_start="2027-01-01").payment == "failed"
    assert tasks.renew_due()["renewed"] == 0
    assert Invoice.objects.get(account=account, period_start="2027-01-01").lines.count() == 1


def test_a_subscription_ending_at_period_end_is_not_billed_by_invoicings_own_beat(gateway, billing_clock, plan):
    from django.core.management import call_command

    flagged_account = factories.account("ok", products=0)
    flagged = fresh(operations.subscribe(flagged_account.pk, "monthly", "test"))
    operations.cancel(flagged, immediately=False, actor="test")
    retired_account = factories.account("ok", lms_user_id=9002, products=0)
    retired = operations.subscribe(retired_account.pk, "monthly", "test")
    assert operations.retire_plan(plan, "manager") == 2
    assert not Product.objects.filter(active=True).exists()  # invoicing bills neither again
    billing_clock.move(days=30)
    call_command("create_invoices", "--period", "2027-01", "--json")
    call_command("dispatch_invoices", "--json")
    assert not Invoice.objects.filter(period_start="2027-01-01", total__gt=0).exists()
    counters = tasks.renew_due()
    assert (counters["canceled"], counters["expired"]) == (1, 1)
    assert (fresh(flagged).status, fresh(retired).status) == ("canceled", "expired")


def test_a_failing_page_does_not_stop_the_pages_after_it(gateway, billing_clock, plan, monkeypatch, settings):
    settings.SUBSCRIPTIONS_BATCH_SIZE = 1
    broken, fine = factories.account("ok", products=0), factories.account("ok", lms_user_id=9002, products=0)
    first, second = (operations.subscribe(a.pk, "monthly", "test") for a in (broken, fine))
    real = invoicing_billing.dispatch_invoices
    monkeypatch.setattr(invoicing_billing, "dispatch_invoices",
                        lambda scope: 1 / 0 if broken.pk in scope.account_ids else real(scope))  # fmt: skip
    billing_clock.move(days=30)
    counters = tasks.renew_due()
    assert (counters["failed"], counters["renewed"]) == (1, 1)
    assert fresh(first).renews_on == dt.date(2027, 1, 1) and fresh(second).renews_on == dt.date(2027, 2, 1)
    monkeypatch.undo()
    assert tasks.renew_due()["renewed"] == 1 and fresh(first).renews_on == dt.date(2027, 2, 1)
