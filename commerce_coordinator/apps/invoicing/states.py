"""The invoice state machine: one table of allowed transitions and the one function that applies them.

`transition` is the only code that changes an invoice's state: a conditional UPDATE (the state and
version it read) plus the event row, in one transaction. Anything the table does not list is refused
with InvalidTransition; a concurrent change in between is refused with StaleInvoice (nothing written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.bulk import insert_rows, update_group

from . import clock
from .models import Invoice, InvoiceEvent, InvoiceState

S = InvoiceState


class InvalidTransition(ValueError):
    """The transition is not in the table (or its guard refuses it)."""


class StaleInvoice(RuntimeError):
    """The invoice changed since it was read: another run or receiver moved it first."""


@dataclass(frozen=True)
class Rule:
    action: str
    source: str
    target: str
    guard: Callable[[Invoice], str] | None = None  # returns why not, or ""
    doc: str = ""


def _nothing_paid(invoice: Invoice) -> str:
    return "" if not invoice.amount_paid else f"{invoice.amount_paid} was already paid"


RULES: tuple[Rule, ...] = (
    Rule("populate", S.DRAFT, S.DRAFT, doc="lines taken from the account's products"),
    Rule("error", S.DRAFT, S.ERROR, doc="populate or finalize failed; the next dispatch retries it"),
    Rule("retry", S.ERROR, S.DRAFT, doc="the next dispatch takes it again"),
    Rule("finalize", S.DRAFT, S.OPEN, doc="number assigned, lines frozen, due date set"),
    Rule("delete", S.DRAFT, S.DELETED, doc="a draft that will not be billed"),
    Rule("charge", S.OPEN, S.OPEN, doc="a charge attempt requested: attempts + 1"),
    Rule("charge_failed", S.OPEN, S.OPEN, doc="the attempt failed: next attempt time (or none)"),
    Rule("overdue", S.OPEN, S.OPEN, doc="the due date passed: payment_overdue"),
    Rule("pay", S.OPEN, S.PAID),
    Rule("uncollectible", S.OPEN, S.UNCOLLECTIBLE, doc="the dunning ladder's end, or an operator"),
    Rule("pay", S.UNCOLLECTIBLE, S.PAID, doc="paid late"),
    Rule("void", S.UNCOLLECTIBLE, S.VOID),
    Rule("void", S.OPEN, S.VOID, guard=_nothing_paid, doc="only when nothing was paid"),
    # A refund leaves a paid invoice paid (ADR 63): the chain and InvoiceRefund record the money going back.
    Rule("refund", S.PAID, S.PAID, doc="a refund requested (its amount reserved)"),
    Rule("refunded", S.PAID, S.PAID, doc="the provider refunded it: amount_refunded grows"),
    Rule("refund_failed", S.PAID, S.PAID, doc="the provider refused it: the amount is refundable again"),
)
TABLE: dict[tuple[str, str], Rule] = {(rule.source, rule.action): rule for rule in RULES}


def rule_for(invoice: Invoice, action: str) -> Rule:
    rule = TABLE.get((invoice.state, action))
    if rule is None:
        allowed = sorted(r.source for r in RULES if r.action == action)
        raise InvalidTransition(
            f"invoice {invoice}: cannot {action} in state {invoice.state!r}"
            + (f" (only from {', '.join(allowed)})" if allowed else f" ({action!r} is not an invoice action)")
        )
    why_not = rule.guard(invoice) if rule.guard else ""
    if why_not:
        raise InvalidTransition(f"invoice {invoice}: cannot {action}: {why_not}")
    return rule


@dataclass(frozen=True)
class Computed:
    """A field value the UPDATE computes from the row (`sql`, an expression the same for every invoice), so that
    invoices whose values differ only by it share one UPDATE; `value` is what it comes to for this invoice."""

    sql: object
    value: object


@dataclass(frozen=True)
class Step:
    """One transition of a chain applied at once (e.g. populate then finalize)."""

    action: str
    reason: str = ""
    fields: dict = field(default_factory=dict)


def transition(invoice: Invoice, action: str, *, reason: str = "", actor: str = "system", **fields) -> InvoiceEvent:
    """Apply `action` to `invoice` (and set `fields` with it): one conditional UPDATE and its event row.

    Updates `invoice` in place and returns the event. Raises InvalidTransition or StaleInvoice.
    """
    moved = transition_many([(invoice, [Step(action, reason, fields)])], actor)
    if not moved:
        raise StaleInvoice(f"invoice {invoice} changed since it was read ({action} refused)")
    return moved[invoice.pk][-1]


def transition_many(chains: list[tuple[Invoice, list[Step]]], actor: str = "system") -> dict[int, list[InvoiceEvent]]:
    """The one place invoice states change. Each invoice's steps are checked against the table, then, in
    one transaction: per invoice one conditional UPDATE (from the state and version it was read in) to
    the chain's end, and one event row per step (one INSERT for all). An invoice that changed meanwhile is
    left out of the result and gets nothing; the others are updated in place. Raises InvalidTransition.
    """
    now = clock.now()
    trace_id = tracing.current_trace_id() or ""
    planned = []
    for invoice, steps in chains:
        state, version, values, events = invoice.state, invoice.version, {}, []
        for step in steps:
            rule = rule_for(invoice if state == invoice.state else _as_in(invoice, state), step.action)
            version += 1
            events.append(InvoiceEvent(invoice_id=invoice.pk, seq=version, action=step.action, from_state=state,
                                       to_state=rule.target, reason=str(step.reason)[:2000], actor=str(actor)[:150],
                                       trace_id=trace_id, created=now))  # fmt: skip
            state = rule.target
            values.update(step.fields)
        values.update(state=state, version=version, updated=now)
        planned.append((invoice, values, events))
    moved = {}
    with transaction.atomic(savepoint=False):
        for group in _same_update(planned):
            won = _update(group, now)
            moved.update((plan[0].pk, plan) for plan in group if plan[0].pk in won)
        insert_rows(InvoiceEvent, {"actor": str(actor)[:150], "trace_id": trace_id, "created": now},
                    [_event_row(event) for _, _, events in moved.values() for event in events])  # fmt: skip
    for invoice, values, _ in moved.values():
        for name, value in values.items():
            setattr(invoice, name, value.value if isinstance(value, Computed) else value)
    return {pk: events for pk, (_, _, events) in moved.items()}


EVENT_VARYING = ("invoice_id", "seq", "action", "from_state", "to_state", "reason")


def _event_row(event: InvoiceEvent) -> dict:
    return {name: getattr(event, name) for name in EVENT_VARYING}


def _same_update(planned: list) -> list[list]:
    """Invoices whose conditional UPDATE is the same statement (read in the same state and version, the same
    values to set): a page of first charge attempts is one UPDATE, not one per invoice."""
    groups: dict = {}
    for plan in planned:
        invoice, values, _ = plan
        shared = {name: value.sql if isinstance(value, Computed) else value for name, value in values.items()}
        key = (invoice.state, invoice.version, tuple(sorted(shared.items(), key=str)))
        groups.setdefault(repr(key), []).append(plan)
    return list(groups.values())


def _update(group: list, now) -> set[int]:
    """One conditional UPDATE for the group; the pks it moved (all, or those now carrying this very write)."""
    first = group[0][0]
    values = {name: value.sql if isinstance(value, Computed) else value for name, value in group[0][1].items()}
    pks = [invoice.pk for invoice, _, _ in group]
    expected = {"state": first.state, "version": first.version}
    marker = {"state": values["state"], "version": values["version"], "updated": now}
    return update_group(Invoice, pks, expected, values, marker)


def _as_in(invoice: Invoice, state: str) -> Invoice:
    """The invoice as it will be mid-chain (for the next step's rule and guard)."""
    copy = Invoice(pk=invoice.pk, state=state, amount_paid=invoice.amount_paid, number=invoice.number)
    copy.account_id, copy.period_start = invoice.account_id, invoice.period_start
    return copy


def creation_event(invoice_id: int, actor: str, trace_id: str, now) -> InvoiceEvent:
    """The first link of a chain (a new draft): unsaved, for a bulk insert beside the invoices."""
    return InvoiceEvent(
        invoice_id=invoice_id,
        seq=1,
        action="create",
        from_state="",
        to_state=S.DRAFT,
        actor=actor,
        trace_id=trace_id,
        created=now,
    )


def mermaid() -> str:
    """The state diagram, from the table itself (docs/invoicing.md shows it)."""
    lines = ["stateDiagram-v2", "    [*] --> draft: create"]
    for rule in RULES:
        note = f" ({rule.doc})" if rule.guard else ""
        lines.append(f"    {rule.source} --> {rule.target}: {rule.action}{note}")
    lines += ["    paid --> [*]", "    void --> [*]", "    deleted --> [*]"]
    return "\n".join(lines)
