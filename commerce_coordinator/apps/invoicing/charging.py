"""Charging finalized invoices through signals (this app never imports payments).

An attempt: the invoice's `charge` transition (attempts + 1, in flight), an InvoiceCharge row under the
attempt's idempotency key `inv-<id>-a<n>`, and charge_requested, all in one transaction; the payments
receiver stores its durable attempt in that same transaction and calls the provider after commit. Its
answer (charge_succeeded / charge_failed) comes back to `record_answer`, which transitions the invoice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core import tracing

from . import clock, dunning, notify
from .models import Invoice, InvoiceCharge, InvoiceState
from .signals import charge_requested
from .states import StaleInvoice, transition

logger = logging.getLogger(__name__)


class ChargeNotRequested(RuntimeError):
    """The payments side refused the request (its receiver failed): nothing was recorded."""


def next_attempt_at(invoice: Invoice, failed_attempts: int):
    """When to try again after `failed_attempts` failures: INVOICING_RETRY_DAYS after finalize, or None."""
    days = settings.INVOICING_RETRY_DAYS
    if failed_attempts > len(days):
        return None
    start = invoice.finalized_at or clock.now()
    return max(start + timedelta(days=days[failed_attempts - 1]), clock.now())


def request_charge(invoice: Invoice, actor: str = "system", why: str = "") -> InvoiceCharge | None:
    """Request the invoice's next attempt (the caller read it open and not in flight); None: no saved method."""
    account = invoice.account
    attempt = invoice.attempts + 1
    keys = {**notify.invoice_keys(invoice), "lms_user_id": account.lms_user_id}
    with tracing.span("work", f"invoicing.charge {invoice.number} a{attempt}", actor, **keys):
        with transaction.atomic():
            if not account.has_payment_method:
                transition(
                    invoice,
                    "charge_failed",
                    reason="the account has no saved payment method" + (f" ({why})" if why else ""),
                    actor=actor,
                    attempts=attempt,
                    next_attempt_at=next_attempt_at(invoice, attempt),
                    last_error="no saved payment method",
                )
                notify.invoice_notice(
                    "credit_card_error", invoice, invoice=invoice.as_data(), charge=None, owner=account.owner_data()
                )
                return None
            key = invoice.idempotency_key(attempt)
            transition(
                invoice,
                "charge",
                reason=f"attempt {attempt} ({key}) through {account.payment_provider}" + (f": {why}" if why else ""),
                actor=actor,
                attempts=attempt,
                charge_in_flight=True,
                next_attempt_at=None,
            )
            charge = InvoiceCharge.objects.create(
                invoice=invoice,
                attempt=attempt,
                idempotency_key=key,
                provider=account.payment_provider,
                amount=invoice.total,
                currency=invoice.currency,
                trace_id=tracing.current_trace_id() or "",
            )
            sent = charge_requested.send(
                "invoicing",
                invoice_number=invoice.number,
                amount=invoice.total,
                currency=invoice.currency,
                provider=account.payment_provider,
                payment_token=account.payment_token,
                idempotency_key=key,
                lms_user_id=account.lms_user_id,
            )
            if not sent.ok or not len(sent):
                errors = [str(r.error) for r in sent if r.error is not None] or ["no receiver is routed"]
                raise ChargeNotRequested(f"charge_requested for {key} failed: {'; '.join(errors)}")
    return charge


ANSWER_FIELDS = ("result", "response_code", "response_text", "reject_reason", "message", "charge_id")


def record_answer(idempotency_key: str, succeeded: bool, decline: str = "", **answer) -> dict:
    """charge_succeeded / charge_failed: record the answer once per attempt and transition the invoice."""
    charge = InvoiceCharge.objects.filter(idempotency_key=idempotency_key).first()
    if charge is None:
        logger.warning("A charge answer for %s names no invoice attempt of ours; ignored", idempotency_key)
        return {"ignored": f"unknown attempt {idempotency_key}"}
    tracing.add_keys(invoice_number=answer.get("invoice_number", ""))
    fields = {name: str(answer.get(name, ""))[:255] for name in ANSWER_FIELDS}
    fields.update(provider_status=str(answer.get("status", ""))[:64], decline=decline, answered_at=clock.now())
    fields["message"] = str(answer.get("message", ""))
    with transaction.atomic():
        status = InvoiceCharge.Status.SUCCEEDED if succeeded else InvoiceCharge.Status.FAILED
        won = InvoiceCharge.objects.filter(pk=charge.pk, status=InvoiceCharge.Status.REQUESTED).update(
            status=status, **fields
        )
        if not won and succeeded:  # the provider's webhook: an attempt whose calls all failed did go through
            won = InvoiceCharge.objects.filter(pk=charge.pk, status=InvoiceCharge.Status.FAILED, result="error").update(
                status=status, **fields
            )
        if not won:
            return {"duplicate": idempotency_key}  # this attempt's answer was recorded already
        charge.refresh_from_db()
        outcome = _apply_answer(charge, succeeded)
        dunning.evaluate_after(charge)
    return outcome


def _apply_answer(charge: InvoiceCharge, succeeded: bool, tries: int = 3) -> dict:
    for _ in range(tries):
        invoice = Invoice.objects.select_related("account").get(pk=charge.invoice_id)
        try:
            return _paid(invoice, charge) if succeeded else _failed(invoice, charge)
        except StaleInvoice:  # a dunning step or an operator moved it meanwhile: read it again
            continue
    raise StaleInvoice(f"invoice {charge.invoice_id} kept changing while its charge answer was applied")


def _paid(invoice: Invoice, charge: InvoiceCharge) -> dict:
    if invoice.state not in Invoice.UNPAID:
        # Paid although voided/paid meanwhile: keep the money's record; an operator refunds it.
        Invoice.objects.filter(pk=invoice.pk).update(charge_in_flight=False)
        logger.error("Invoice %s was charged (%s) while %s: refund it", invoice, charge.idempotency_key, invoice.state)
        return {"invoice": invoice.number, "state": invoice.state, "charged_while": invoice.state}
    transition(
        invoice,
        "pay",
        reason=f"{charge.idempotency_key} succeeded ({charge.charge_id})",
        actor=f"payments:{charge.provider}",
        amount_paid=charge.amount,
        paid_at=clock.now(),
        charge_in_flight=False,
        next_attempt_at=None,
        payment_overdue=False,
        last_error="",
    )
    notify.invoice_notice("invoice_sent", invoice, invoice=invoice.as_data(), owner=invoice.account.owner_data())
    return {"invoice": invoice.number, "state": invoice.state}


def _failed(invoice: Invoice, charge: InvoiceCharge) -> dict:
    why = f"{charge.idempotency_key} {charge.result}: {charge.reject_reason or charge.response_code} {charge.message}"
    if invoice.state != InvoiceState.OPEN:
        Invoice.objects.filter(pk=invoice.pk).update(charge_in_flight=False, last_error=why[:2000])
        return {"invoice": invoice.number, "state": invoice.state}
    retry_at = None if charge.decline == "hard" else next_attempt_at(invoice, invoice.attempts)
    transition(
        invoice,
        "charge_failed",
        reason=why + ("; hard decline: no more attempts with this method" if charge.decline == "hard" else ""),
        actor=f"payments:{charge.provider}",
        charge_in_flight=False,
        next_attempt_at=retry_at,
        last_error=why[:2000],
    )
    owner = invoice.account.owner_data()
    notify.invoice_notice("credit_card_error", invoice, invoice=invoice.as_data(), charge=charge.as_data(), owner=owner)
    return {"invoice": invoice.number, "state": invoice.state, "next_attempt_at": retry_at}
