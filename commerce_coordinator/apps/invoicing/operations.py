"""What an operator may do to an invoice (the admin's actions, the API, a console): each needs a reason.

Each goes through the one transition function, so the chain records who did it, why, and in which trace.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.models import WorkAudit

from . import charging, dunning, notify, refunds
from .models import Invoice, InvoiceCharge, InvoiceRefund, InvoiceState
from .states import InvalidTransition, transition


def _reason(reason: str) -> str:
    if not reason or not str(reason).strip():
        raise InvalidTransition("an operator action needs a reason")
    return str(reason).strip()


def retry_charge_now(invoice: Invoice, actor: str, reason: str) -> InvoiceCharge | None:
    """Charge an open invoice now (a new attempt), whatever its schedule said; refused while one is in flight."""
    reason = _reason(reason)
    if invoice.state != InvoiceState.OPEN:
        raise InvalidTransition(f"invoice {invoice}: only an open invoice is charged (it is {invoice.state})")
    if invoice.charge_in_flight:
        raise InvalidTransition(f"invoice {invoice}: attempt {invoice.attempts} is still waiting for its answer")
    with tracing.span("operator", f"retry charge {invoice.number}", actor, **notify.invoice_keys(invoice)):
        return charging.request_charge(invoice, actor, why=reason)


def void(invoice: Invoice, actor: str, reason: str) -> None:
    with tracing.span("operator", f"void {invoice.number}", actor, **notify.invoice_keys(invoice)):
        transition(invoice, "void", reason=_reason(reason), actor=actor, next_attempt_at=None)
    dunning.evaluate(invoice.account_id)


def mark_uncollectible(invoice: Invoice, actor: str, reason: str) -> None:
    with tracing.span("operator", f"mark uncollectible {invoice.number}", actor, **notify.invoice_keys(invoice)):
        transition(invoice, "uncollectible", reason=_reason(reason), actor=actor, next_attempt_at=None)


def refund(invoice: Invoice, actor: str, reason: str, amount: Decimal | None = None, audited: bool = True
           ) -> InvoiceRefund:  # fmt: skip
    """Refund a paid invoice (all that is refundable, or `amount`) through its provider (ADR 63); raises
    refunds.RefundRefused. An operator's refund (admin, manage.py refund_invoice) also writes a core.WorkAudit row;
    the API's is kept under its Idempotency-Key."""
    keys = notify.invoice_keys(invoice)
    with tracing.span("operator", f"refund {invoice.number}", actor, **keys), transaction.atomic():
        made = refunds.request_refund(invoice.number or "", amount, reason, actor)
        if audited:
            WorkAudit.objects.create(
                item_type="invoicing.invoice", item_id=str(invoice.pk), item_label=f"invoice {invoice.number}",
                action="refund", actor=str(actor)[:150], reason=str(reason).strip(),
                outcome=f"refund {made.idempotency_key} of {made.amount} {made.currency} requested",
                trace_id=tracing.current_trace_id() or "",
            )  # fmt: skip
    return made
