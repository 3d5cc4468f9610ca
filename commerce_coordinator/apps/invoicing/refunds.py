"""Refunds of paid invoices through signals (this app never imports payments; ADR 63).

A refund: under a lock on the invoice, the `refund` transition (paid -> paid), an InvoiceRefund row under the
key `inv-<id>-r<n>` that reserves its amount, and refund_requested, all in one transaction; the payments
receiver stores its durable refund in that same transaction and calls the provider after commit. Its answer
(refund_succeeded / refund_failed) comes back to `record_answer`, which records it on the invoice. The bus,
the API, the admin and `manage.py refund_invoice` all come through `request_refund`.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from commerce_coordinator.apps.core import retries, tracing

from . import clock, notify
from .models import Invoice, InvoiceCharge, InvoiceRefund, InvoiceState
from .signals import refund_requested
from .states import transition

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
RESERVING = (InvoiceRefund.Status.REQUESTED, InvoiceRefund.Status.SUCCEEDED)


class RefundRefused(retries.PermanentError):
    """The refund is impossible as asked (not paid, more than is refundable, no provider payment): for good."""


class RefundNotRequested(RuntimeError):
    """The payments side refused the request (its receiver failed): nothing was recorded."""

    def __init__(self, message: str, errors: list):
        super().__init__(message)
        self.retryable = bool(errors) and all(retries.is_retryable(e) for e in errors)


def refundable(invoice: Invoice) -> Decimal:
    """What may still be refunded: the amount paid less the refunds that succeeded or are under way."""
    reserved = invoice.refunds.filter(status__in=RESERVING).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    return invoice.amount_paid - reserved


def request_refund(invoice_number: str, amount: Decimal | None, reason: str, actor: str) -> InvoiceRefund:
    """Refund `amount` of a paid invoice (None: all that is refundable); RefundRefused says why not."""
    with tracing.span("work", f"invoicing.refund {invoice_number}", actor, invoice_number=invoice_number[:32]):
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().filter(number=invoice_number[:32]).first()
            payment, amount = _check(invoice, invoice_number, amount, reason)
            seq = invoice.refunds.count() + 1
            key = f"inv-{invoice.pk}-r{seq}"
            transition(invoice, "refund", reason=f"{key}: {amount} {invoice.currency} through {payment.provider} "
                       f"({reason.strip()})", actor=actor)  # fmt: skip
            refund = InvoiceRefund.objects.create(
                invoice=invoice, seq=seq, idempotency_key=key, provider=payment.provider, payment_id=payment.charge_id,
                amount=amount, currency=invoice.currency, reason=reason.strip(), actor=str(actor)[:150],
                trace_id=tracing.current_trace_id() or "",
            )  # fmt: skip
            _send_request(refund, invoice)
    return refund


def _check(invoice: Invoice | None, number: str, amount: Decimal | None, reason: str) -> tuple[InvoiceCharge, Decimal]:
    """The payment to refund and the amount, or RefundRefused with a reason an operator can act on."""
    if invoice is None:
        raise RefundRefused(f"no invoice {number!r}")
    if not reason or not reason.strip():
        raise RefundRefused(f"invoice {invoice}: a refund needs a reason")
    if invoice.state != InvoiceState.PAID:
        raise RefundRefused(f"invoice {invoice} is {invoice.state}, not paid: only a paid invoice is refunded")
    payment = (
        invoice.charges.filter(status=InvoiceCharge.Status.SUCCEEDED).exclude(charge_id="").order_by("-attempt").first()
    )
    if payment is None:
        raise RefundRefused(f"invoice {invoice} was not paid through a provider charge: nothing to refund there")
    left = refundable(invoice)
    if left <= 0:
        raise RefundRefused(
            f"invoice {invoice}: nothing left to refund (all {invoice.amount_paid} refunded or under way)"
        )
    if amount is None:
        return payment, left
    if amount <= 0 or amount != amount.quantize(CENT):
        raise RefundRefused(
            f"invoice {invoice}: a refund amount must be positive with at most 2 decimals, not {amount}"
        )
    if amount > left:
        raise RefundRefused(
            f"invoice {invoice}: cannot refund {amount} {invoice.currency}, more than the {left} still refundable "
            f"of the {invoice.amount_paid} paid"
        )
    return payment, amount


def _send_request(refund: InvoiceRefund, invoice: Invoice) -> None:
    sent = refund_requested.send(
        "invoicing",
        invoice_number=invoice.number,
        amount=refund.amount,
        currency=refund.currency,
        provider=refund.provider,
        payment_id=refund.payment_id,
        idempotency_key=refund.idempotency_key,
        reason=refund.reason,
        lms_user_id=invoice.account.lms_user_id,
    )
    if why := sent.refusal():
        errors = [r.error for r in sent if r.error is not None]
        raise RefundNotRequested(f"refund_requested for {refund.idempotency_key} failed: {why}", errors)


def record_answer(idempotency_key: str, succeeded: bool, **answer) -> dict:
    """refund_succeeded / refund_failed: record the answer once per refund and on the invoice's chain."""
    refund = InvoiceRefund.objects.filter(idempotency_key=idempotency_key).first()
    if refund is None:
        logger.warning("A refund answer for %s names no refund of ours; ignored", idempotency_key)
        return {"ignored": f"unknown refund {idempotency_key}"}
    tracing.add_keys(invoice_number=answer.get("invoice_number", ""))
    status = InvoiceRefund.Status.SUCCEEDED if succeeded else InvoiceRefund.Status.FAILED
    fields = {"status": status, "refund_id": str(answer.get("refund_id", ""))[:255],
              "provider_status": str(answer.get("status", ""))[:64], "message": str(answer.get("message", "")),
              "answered_at": clock.now()}  # fmt: skip
    with transaction.atomic():
        won = InvoiceRefund.objects.filter(pk=refund.pk, status=InvoiceRefund.Status.REQUESTED).update(**fields)
        if not won and succeeded:  # a dead-lettered call that went through after all (an operator's re-run)
            won = InvoiceRefund.objects.filter(pk=refund.pk, status=InvoiceRefund.Status.FAILED,
                                               provider_status="error").update(**fields)  # fmt: skip
        if not won:
            return {"duplicate": idempotency_key}
        refund.refresh_from_db()
        invoice = Invoice.objects.select_for_update().get(pk=refund.invoice_id)
        _apply(invoice, refund)
    return {"invoice": invoice.number, "refund": refund.idempotency_key, "status": refund.status,
            "amount_refunded": str(invoice.amount_refunded)}  # fmt: skip


def _apply(invoice: Invoice, refund: InvoiceRefund) -> None:
    actor = f"payments:{refund.provider}"
    keys = notify.invoice_keys(invoice)
    with tracing.span("work", f"invoicing.refund_answer {refund.idempotency_key}", actor, **keys):
        if refund.status == InvoiceRefund.Status.SUCCEEDED:
            transition(invoice, "refunded", actor=actor, amount_refunded=invoice.amount_refunded + refund.amount,
                       reason=f"{refund.idempotency_key} refunded {refund.amount} {refund.currency} "
                       f"({refund.refund_id})")  # fmt: skip
        else:
            why = refund.message or refund.provider_status
            transition(invoice, "refund_failed", actor=actor, reason=f"{refund.idempotency_key} failed: {why}")
