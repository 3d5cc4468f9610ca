"""The invoice state machine: one table of allowed transitions and the one function that applies them.

`transition` is the only code that changes an invoice's state: a conditional UPDATE (the state and
version it read) plus the event row, in one transaction. Anything the table does not list is refused
with InvalidTransition; a concurrent change in between is refused with StaleInvoice (nothing written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from commerce_coordinator.apps.core import tracing

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


def transition(invoice: Invoice, action: str, *, reason: str = "", actor: str = "system", **fields) -> InvoiceEvent:
    """Apply `action` to `invoice` (and set `fields` with it): one conditional UPDATE and its event row.

    Updates `invoice` in place and returns the event. Raises InvalidTransition or StaleInvoice.
    """
    rule = rule_for(invoice, action)
    now = clock.now()
    seq = invoice.version + 1
    values = {"state": rule.target, "version": seq, "updated": now, **fields}
    with transaction.atomic():
        won = Invoice.objects.filter(pk=invoice.pk, state=invoice.state, version=invoice.version).update(**values)
        if not won:
            raise StaleInvoice(f"invoice {invoice} changed since it was read ({action} refused)")
        event = InvoiceEvent.objects.create(
            invoice_id=invoice.pk,
            seq=seq,
            action=action,
            from_state=invoice.state,
            to_state=rule.target,
            reason=str(reason)[:2000],
            actor=str(actor)[:150],
            trace_id=tracing.current_trace_id() or "",
            created=now,
        )
    for name, value in values.items():
        setattr(invoice, name, value)
    return event


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
