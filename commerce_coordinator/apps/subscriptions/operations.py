"""What clients, the bus and invoicing's answers do to subscriptions: the functions the API and receivers call.

Each change goes through the one transition function (states.py), so the chain records who, why and the trace.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core import tracing

from . import billing, clock, renewals, states
from .models import Plan, Renewal, Subscription, SubscriptionStatus
from .states import InvalidTransition, Step, transition, transition_many

S = SubscriptionStatus


class SubscribeRefused(ValueError):
    """The subscription cannot be made (unknown plan, unknown or closed account, currency): nothing is kept."""


def subscribe(account_id: int, plan_code: str, actor: str, provider_subscription_id: str = "") -> Subscription:
    """A new subscription: a trial starts at once; otherwise its first period is billed now (pending until paid)."""
    plan = Plan.objects.filter(code=str(plan_code)[:64], active=True).first()
    if plan is None:
        raise SubscribeRefused(f"no active plan {plan_code!r}")
    today = clock.today()
    with tracing.span("work", f"subscriptions.subscribe {plan.code}", actor, account_id=account_id):
        with transaction.atomic():
            if plan.trial_days:
                subscription = _start_trial(account_id, plan, today, actor, provider_subscription_id)
            else:
                subscription = _start_billed(account_id, plan, today, actor, provider_subscription_id)
            tracing.add_keys(subscription_id=subscription.pk)
    return subscription


def _new(account_id, plan, start, end, renews_on, actor, provider_id, **fields) -> Subscription:
    subscription = Subscription.objects.create(
        account_id=account_id, plan=plan, current_period_start=start, current_period_end=end, renews_on=renews_on,
        provider_subscription_id=str(provider_id)[:64], created=clock.now(), updated=clock.now(), **fields,
    )  # fmt: skip
    states.creation_event(subscription, actor, f"subscribed to {plan.code}")
    return subscription


def _refused(answer: billing.Answer, subscription: Subscription) -> None:
    if subscription.pk in answer.refused:
        raise SubscribeRefused(answer.refused[subscription.pk])


def _start_trial(account_id, plan, today, actor, provider_id) -> Subscription:
    trial_end = today + timedelta(days=plan.trial_days)
    first_billed = trial_end if trial_end.day == 1 else clock.add_months(trial_end, 1)
    end = first_billed - timedelta(days=1)
    subscription = _new(account_id, plan, today, end, first_billed, actor, provider_id, trial_ends_on=end)
    # Invoicing registers the plan on the account (checking the account) without billing yet.
    _refused(billing.bill([billing.period_entry(subscription, first_billed, first=True, bill=False)]), subscription)
    transition(subscription, "activate", reason=f"trial of {plan.trial_days} days, to {end}", actor=actor)
    return subscription


def _start_billed(account_id, plan, today, actor, provider_id) -> Subscription:
    start, end = clock.period_from(today, plan.period_months)
    subscription = _new(account_id, plan, start, end, end + timedelta(days=1), actor, provider_id)
    renewal = Renewal.objects.create(subscription=subscription, period_start=start, account_id=account_id,
                                     run_token=uuid.uuid4().hex, trace_id=tracing.current_trace_id() or "")  # fmt: skip
    answer = billing.bill([billing.period_entry(subscription, start, first=True)])
    _refused(answer, subscription)
    if subscription.pk in answer.deferred:  # the month's invoice was already out: free to the month's end
        month_end = clock.add_months(today, 1) - timedelta(days=1)
        Renewal.objects.filter(pk=renewal.pk).update(outcome=Renewal.Outcome.DEFERRED)
        transition(subscription, "activate", reason=f"free to {month_end}: this month's invoice was already out",
                   actor=actor, current_period_start=today, current_period_end=month_end,
                   renews_on=month_end + timedelta(days=1))  # fmt: skip
    return subscription


def cancel(subscription: Subscription, immediately: bool, actor: str, reason: str = "") -> Subscription:
    """Unsubscribe: at period end by default (active only), or at once (active or suspended)."""
    why = reason or ("canceled at once" if immediately else "cancel at period end")
    with tracing.span("work", f"subscriptions.cancel {subscription.pk}", actor, **keys(subscription)):
        if immediately:
            transition(subscription, "cancel", reason=why, actor=actor, cancel_at_period_end=False)
        elif not subscription.cancel_at_period_end or subscription.status != S.ACTIVE:
            transition(subscription, "schedule_cancel", reason=why, actor=actor, cancel_at_period_end=True)
    return subscription


def retire_plan(plan: Plan, actor: str) -> int:
    """A manager retired a plan: no new subscribers; its live subscriptions expire at their period end and
    invoicing bills them no more (subscription_ending, sent on commit)."""
    live = Subscription.objects.select_related("plan").filter(plan=plan).exclude(status__in=states.ENDED)
    with transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(active=False)
        for subscription in live:
            states.send_on_commit("subscription_ending", subscription, f"plan {plan.code} retired by {actor}")
    return len(live)


def keys(subscription: Subscription) -> dict:
    return {"subscription_id": subscription.pk, "account_id": subscription.account_id}


# --- invoicing's answers ----------------------------------------------------------------------------


def _has_subscriptions(account_id: int) -> bool:
    """Whether the account has any subscription: without one, no renewal of it can be due or billed (a renewal's
    account is its subscription's), so an invoice's outcome has nothing to change here."""
    return Subscription.objects.filter(account_id=account_id).exists()


def _renewals(account_id: int, period: str):
    """The account's billed periods of `period`, after renewing its subscriptions due for it: invoicing's own
    beat may bill (and charge) the month's invoice before the renewal sweep reaches them (ADR 0062)."""
    start = clock.parse_period(period)
    due = renewals.due().filter(account_id=account_id, renews_on=start)
    if due.exists():
        renewals.renew_page(list(due.select_related("plan").order_by("pk")), "invoicing", renewals.new_counters())
    return Renewal.objects.filter(account_id=account_id, period_start=start, outcome=Renewal.Outcome.BILLED)


def _apply(subscriptions, action_of, reason: str, actor: str) -> list[int]:
    """Transition each subscription whose status has an action (action_of(sub) -> action or "")."""
    steps = [Step(sub, action, reason) for sub in subscriptions if (action := action_of(sub))]
    return [event.subscription_id for event in transition_many(steps, actor)]


def invoice_paid(account_id: int, period: str, invoice_number: str, actor: str) -> list[int]:
    """The account's invoice of `period` was paid: its periods are paid; pending/past-due/suspended ones active."""
    if not _has_subscriptions(account_id):  # an invoice of no subscription (most of them): one look-up
        return []
    renewals = _renewals(account_id, period)
    ids = list(renewals.values_list("subscription_id", flat=True))
    if not ids:
        return []
    renewals.update(payment=Renewal.Payment.PAID, invoice_number=invoice_number[:32])
    still_failed = set(
        Renewal.objects.filter(subscription_id__in=ids, payment=Renewal.Payment.FAILED).values_list(
            "subscription_id", flat=True
        )
    )
    actions = {S.PENDING: "activate", S.INCOMPLETE: "activate", S.PAST_DUE: "pay", S.SUSPENDED: "pay"}
    subs = Subscription.objects.select_related("plan").filter(pk__in=set(ids) - still_failed)
    return _apply(subs, lambda sub: actions.get(sub.status, ""), f"invoice {invoice_number} paid", actor)


def invoice_failed(account_id: int, period: str, invoice_number: str, why: str, actor: str) -> list[int]:
    """Charging the account's invoice of `period` failed: first periods incomplete, renewals past due."""
    if not _has_subscriptions(account_id):
        return []
    start = clock.parse_period(period)
    renewals = _renewals(account_id, period).exclude(payment=Renewal.Payment.PAID)
    ids = list(renewals.values_list("subscription_id", flat=True))
    renewals.update(payment=Renewal.Payment.FAILED, invoice_number=invoice_number[:32])

    def action_of(sub):
        if sub.status == S.PENDING:
            return "fail_first"
        return "fail_renewal" if sub.status == S.ACTIVE and sub.current_period_start == start else ""

    subs = Subscription.objects.select_related("plan").filter(pk__in=ids)
    return _apply(subs, action_of, f"invoice {invoice_number}: {why}"[:2000], actor)


def account_overdue(account_id: int, level: str, actor: str) -> list[int]:
    """A suspending dunning level: the account's past-due subscriptions are suspended."""
    if level not in settings.SUBSCRIPTIONS_SUSPEND_LEVELS:
        return []
    subs = Subscription.objects.select_related("plan").filter(account_id=account_id, status=S.PAST_DUE)
    return _apply(subs, lambda sub: "suspend", f"dunning level {level}", actor)


def account_cleared(account_id: int, actor: str) -> list[int]:
    """The account owes nothing any more: its past-due and suspended subscriptions are active again."""
    subs = Subscription.objects.select_related("plan").filter(
        account_id=account_id, status__in=[S.PAST_DUE, S.SUSPENDED]
    )
    return _apply(subs, lambda sub: "pay", "the account paid everything it owed", actor)


def expire_incomplete(actor: str = "renewals") -> int:
    """Incomplete subscriptions unpaid for SUBSCRIPTIONS_INCOMPLETE_EXPIRES_HOURS end (incomplete_expired)."""
    cutoff = clock.now() - timedelta(hours=settings.SUBSCRIPTIONS_INCOMPLETE_EXPIRES_HOURS)
    subs = Subscription.objects.select_related("plan").filter(status=S.INCOMPLETE, created__lt=cutoff)
    with transaction.atomic():
        return len(_apply(subs, lambda sub: "expire", "the first payment never came", actor))


__all__ = ["InvalidTransition", "SubscribeRefused", "subscribe", "cancel"]
