"""The subscription state machine: one table of allowed transitions and the one function that applies them.

`transition_many` is the only code that changes a subscription's status: per subscription a conditional
UPDATE (from the status and version it was read in) and an event row, in one transaction; the lifecycle
signal of the rule (if any) is sent once that transaction commits. Unlisted transitions are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.bulk import update_group

from . import clock, signals
from .models import Subscription, SubscriptionEvent, SubscriptionStatus

S = SubscriptionStatus


class InvalidTransition(ValueError):
    """The transition is not in the table."""


class StaleSubscription(RuntimeError):
    """The subscription changed since it was read: another run or receiver moved it first."""


@dataclass(frozen=True)
class Rule:
    action: str
    source: str
    target: str
    signal: str = ""  # the lifecycle signal sent on commit
    doc: str = ""


RULES: tuple[Rule, ...] = (
    Rule("activate", S.PENDING, S.ACTIVE, "subscription_activated", "first period paid, or a trial begins"),
    Rule("fail_first", S.PENDING, S.INCOMPLETE, doc="the first charge failed"),
    Rule("activate", S.INCOMPLETE, S.ACTIVE, "subscription_activated", "the first period paid late"),
    Rule("expire", S.INCOMPLETE, S.INCOMPLETE_EXPIRED, "subscription_expired", "unpaid too long"),
    Rule("renew", S.ACTIVE, S.ACTIVE, doc="the next period begins (billed on the account's invoice)"),
    Rule("schedule_cancel", S.ACTIVE, S.ACTIVE, "subscription_ending", "cancel at period end"),
    Rule("fail_renewal", S.ACTIVE, S.PAST_DUE, "subscription_past_due", "a renewal charge failed"),
    Rule("pay", S.PAST_DUE, S.ACTIVE, "subscription_resumed", "the renewal was paid"),
    Rule("suspend", S.PAST_DUE, S.SUSPENDED, "subscription_suspended", "the dunning ladder's blocking level"),
    Rule("pay", S.SUSPENDED, S.ACTIVE, "subscription_resumed", "what was owed was paid"),
    Rule("cancel", S.SUSPENDED, S.CANCELED, "subscription_canceled"),
    Rule("cancel", S.ACTIVE, S.CANCELED, "subscription_canceled", "at once, or at period end when flagged"),
    Rule("expire", S.ACTIVE, S.EXPIRED, "subscription_expired", "its plan was retired: not renewed"),
)
TABLE: dict[tuple[str, str], Rule] = {(rule.source, rule.action): rule for rule in RULES}
ENDED = (S.CANCELED, S.EXPIRED, S.INCOMPLETE_EXPIRED)


def rule_for(status: str, action: str, label: str = "subscription") -> Rule:
    rule = TABLE.get((status, action))
    if rule is None:
        allowed = sorted(r.source for r in RULES if r.action == action)
        raise InvalidTransition(
            f"{label}: cannot {action} in status {status!r}"
            + (f" (only from {', '.join(allowed)})" if allowed else f" ({action!r} is not a subscription action)")
        )
    return rule


@dataclass(frozen=True)
class Step:
    subscription: Subscription
    action: str
    reason: str = ""
    fields: dict = field(default_factory=dict)


def transition(subscription: Subscription, action: str, *, reason: str = "", actor: str = "system", **fields):
    """Apply one action (and set `fields` with it). Raises InvalidTransition or StaleSubscription."""
    moved = transition_many([Step(subscription, action, reason, fields)], actor)
    if not moved:
        raise StaleSubscription(f"{subscription} changed since it was read ({action} refused)")
    return moved[0]


def transition_many(steps: list[Step], actor: str = "system") -> list[SubscriptionEvent]:
    """The one place statuses change: each step checked against the table (InvalidTransition for any
    unlisted one, nothing written), then one conditional UPDATE (from the status and version each was read
    in) per group of identical changes and one INSERT of all event rows. A subscription that changed
    meanwhile is left out (no event); the others are updated in place. Returns the events written."""
    now, trace_id = clock.now(), tracing.current_trace_id() or ""
    planned = []
    for step in steps:
        sub = step.subscription
        rule = rule_for(sub.status, step.action, str(sub))
        values = {**step.fields, "status": rule.target, "version": sub.version + 1, "updated": now}
        if rule.target in ENDED:
            values.setdefault("ended_at", now)
            values.setdefault("renews_on", None)
        event = SubscriptionEvent(subscription_id=sub.pk, seq=sub.version + 1, action=step.action,
                                  from_status=sub.status, to_status=rule.target, reason=str(step.reason)[:2000],
                                  actor=str(actor)[:150], trace_id=trace_id, created=now)  # fmt: skip
        planned.append((step, rule, values, event))
    written = []
    with transaction.atomic(savepoint=False):
        for group in _same_update(planned):
            moved = _update(group, now)
            written += [plan for plan in group if plan[0].subscription.pk in moved]
        SubscriptionEvent.objects.bulk_create([event for *_, event in written])
    for step, rule, values, _ in written:
        for name, value in values.items():
            setattr(step.subscription, name, value)
        if rule.signal:
            send_on_commit(rule.signal, step.subscription, step.reason)
    return [event for *_, event in written]


def _same_update(planned: list) -> list[list]:
    """Steps whose conditional UPDATE is the same statement (same from status and version, same values):
    a page of renewals to one period is one UPDATE, not one per subscription."""
    groups: dict = {}
    for plan in planned:
        step, _, values, _ = plan
        key = (step.subscription.status, step.subscription.version, tuple(sorted(values.items(), key=str)))
        groups.setdefault(repr(key), []).append(plan)
    return list(groups.values())


def _update(group: list, now) -> set[int]:
    """One conditional UPDATE for the group; the pks it moved (all, or those now carrying this very write)."""
    first = group[0][0].subscription
    pks = [plan[0].subscription.pk for plan in group]
    values = group[0][2]
    expected = {"status": first.status, "version": first.version}
    marker = {"status": values["status"], "version": values["version"], "updated": now}
    return update_group(Subscription, pks, expected, values, marker)


def send_on_commit(name: str, subscription: Subscription, reason: str) -> None:
    data = subscription.as_data()
    transaction.on_commit(partial(_send, name, data, str(reason)), robust=True)


def _send(name: str, data: dict, reason: str) -> None:
    with tracing.span("work", f"subscriptions.{name}", subscription_id=data["id"], account_id=data["account_id"]):
        getattr(signals, name).send("subscriptions", subscription=data, reason=reason)


def creation_event(subscription: Subscription, actor: str, reason: str) -> SubscriptionEvent:
    return SubscriptionEvent.objects.create(
        subscription=subscription, seq=1, action="create", from_status="", to_status=subscription.status,
        reason=reason, actor=str(actor)[:150], trace_id=tracing.current_trace_id() or "", created=clock.now(),
    )  # fmt: skip


def mermaid() -> str:
    """The state diagram, from the table itself (docs/subscriptions.md shows it)."""
    lines = ["stateDiagram-v2", "    [*] --> pending: subscribe"]
    lines += [f"    {rule.source} --> {rule.target}: {rule.action}" for rule in RULES]
    lines += [f"    {status} --> [*]" for status in ENDED]
    return "\n".join(lines)
