"""The renewal sweep: every active subscription whose period has ended is renewed once, in pages.

A page is one transaction: Renewal ledger rows inserted with conflicts ignored under the unique
(subscription, period) (a second or concurrent sweep inserts nothing and so does nothing), the
subscriptions of the rows this run wrote moved on through the one transition function (renewed,
canceled at period end, or expired), and one subscription_periods_due to invoicing, which creates and
dispatches each account's invoice of the period up to charges_requested. A crash rolls the page back
whole; a lost or skipped beat run is caught up by the next, which finds the same subscriptions due.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core import tracing

from . import billing, clock
from .models import Renewal, Subscription, SubscriptionStatus
from .states import Step, transition_many

logger = logging.getLogger(__name__)
S = SubscriptionStatus


def due():
    return Subscription.objects.filter(status=S.ACTIVE, renews_on__lte=clock.today())


def pages(queryset, size: int, limit: int | None = None):
    """Keyset pages by pk (with each subscription's plan), re-queried each time."""
    last, seen = 0, 0
    while limit is None or seen < limit:
        take = size if limit is None else min(size, limit - seen)
        page = list(queryset.filter(pk__gt=last).select_related("plan").order_by("pk")[:take])
        if not page:
            return
        yield page
        seen += len(page)
        last = page[-1].pk


def new_counters() -> dict:
    return {"renewed": 0, "canceled": 0, "expired": 0, "refused": 0, "skipped": 0, "failed": 0}


def renew_due(limit: int | None = None, actor: str = "renewals") -> dict:
    """Renew (or end) every due subscription; returns counters."""
    counters = new_counters()
    for page in pages(due(), settings.SUBSCRIPTIONS_BATCH_SIZE, limit):
        with tracing.span("work", f"subscriptions.renew {len(page)} subscription(s)", actor) as node:
            try:
                renew_page(page, actor, counters)
            except Exception as exc:  # rolled back whole; the next run takes these again, this one goes on
                logger.exception("Renewing subscriptions %s-%s failed", page[0].pk, page[-1].pk)
                counters["failed"] += len(page)
                if node is not None:
                    node.outcome(tracing.ERROR, f"{type(exc).__name__}: {exc}"[:2000])
    return counters


def _outcome(sub: Subscription) -> str:
    if sub.cancel_at_period_end:
        return Renewal.Outcome.CANCELED
    return Renewal.Outcome.BILLED if sub.plan.active else Renewal.Outcome.EXPIRED


def _step(sub: Subscription, outcome: str) -> Step:
    if outcome == Renewal.Outcome.CANCELED:
        return Step(sub, "cancel", f"canceled at the end of the period to {sub.current_period_end}")
    if outcome == Renewal.Outcome.EXPIRED:
        return Step(sub, "expire", f"plan {sub.plan.code} is retired: not renewed")
    start, end = clock.period_from(sub.renews_on, sub.plan.period_months)
    fields = {"current_period_start": start, "current_period_end": end, "renews_on": end + timedelta(days=1)}
    return Step(sub, "renew", f"period {start:%Y-%m} to {end}", fields)


def renew_page(page: list[Subscription], actor: str, counters: dict) -> None:
    token, trace_id = uuid.uuid4().hex, tracing.current_trace_id() or ""
    outcomes = {sub.pk: _outcome(sub) for sub in page}
    with transaction.atomic():
        Renewal.objects.bulk_create(
            [Renewal(subscription_id=sub.pk, period_start=sub.renews_on, account_id=sub.account_id, run_token=token,
                     outcome=outcomes[sub.pk], trace_id=trace_id, created=clock.now()) for sub in page],
            ignore_conflicts=True,
        )  # fmt: skip
        mine = set(Renewal.objects.filter(run_token=token).values_list("subscription_id", flat=True))
        steps = [_step(sub, outcomes[sub.pk]) for sub in page if sub.pk in mine]
        moved = {event.subscription_id for event in transition_many(steps, actor)}
        lost = mine - moved  # changed meanwhile (canceled, say): their rows go, the next sweep looks again
        if lost:
            Renewal.objects.filter(run_token=token, subscription_id__in=lost).delete()
        renewed = [s.subscription for s in steps if s.action == "renew" and s.subscription.pk in moved]
        answer = billing.bill([billing.period_entry(sub, sub.current_period_start) for sub in renewed])
        refused = [sub for sub in renewed if sub.pk in answer.refused]
        if refused:  # the account was closed or is gone: the subscription ends
            transition_many([Step(sub, "expire", f"billing refused: {answer.refused[sub.pk]}") for sub in refused],
                            actor)  # fmt: skip
            Renewal.objects.filter(run_token=token, subscription_id__in=[s.pk for s in refused]).update(
                outcome=Renewal.Outcome.EXPIRED
            )
    counters["renewed"] += len(renewed) - len(refused)
    counters["refused"] += len(refused)
    counters["canceled"] += sum(1 for s in steps if s.action == "cancel" and s.subscription.pk in moved)
    counters["expired"] += sum(1 for s in steps if s.action == "expire" and s.subscription.pk in moved)
    counters["skipped"] += len(page) - len(mine) + len(lost)


def renew_baseline(limit: int | None = None, actor: str = "baseline") -> int:
    """The straightforward way (the benchmark's baseline): one subscription, one transaction, one send at a time."""
    done = 0
    for sub in due().select_related("plan").order_by("pk")[:limit]:
        with transaction.atomic():
            _, made = Renewal.objects.get_or_create(
                subscription=sub, period_start=sub.renews_on, defaults={"account_id": sub.account_id, "run_token": "b"}
            )
            if not made:
                continue
            step = _step(sub, Renewal.Outcome.BILLED)
            if transition_many([step], actor):
                billing.bill([billing.period_entry(sub, sub.current_period_start)])
                done += 1
    return done
