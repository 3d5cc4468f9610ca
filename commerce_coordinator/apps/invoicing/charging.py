"""Charging finalized invoices through signals (this app never imports payments).

An attempt: the invoice's `charge` transition (attempts + 1, in flight), an InvoiceCharge row under the
attempt's idempotency key `inv-<id>-a<n>`, and its entry in charges_requested, all in one transaction (a
dispatch page's attempts together: ADR 0034); the payments receiver stores its durable attempts in that same
transaction and calls the provider after commit. Its
answer (charge_succeeded / charge_failed) comes back to `record_answer`, which transitions the invoice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.bulk import insert_rows

from . import clock, dunning, notify
from .models import Invoice, InvoiceCharge, InvoiceState
from .signals import charges_requested
from .states import StaleInvoice, Step, transition, transition_many

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
    """Request the invoice's next attempt (the caller read it open and not in flight); None: no saved method.
    Raises StaleInvoice when another run moved it first."""
    keys = {**notify.invoice_keys(invoice), "lms_user_id": invoice.account.lms_user_id}
    with tracing.span("work", f"invoicing.charge {invoice.number} a{invoice.attempts + 1}", actor, **keys):
        charges = request_charges([invoice], actor, why)
    if invoice.pk not in charges:
        raise StaleInvoice(f"invoice {invoice} changed since it was read (charge refused)")
    return charges[invoice.pk]


def request_charges(invoices: list[Invoice], actor: str = "system", why: str = "") -> dict[int, InvoiceCharge | None]:
    """Request the next attempt of each invoice (the caller read them open, not in flight, with their accounts)
    in one transaction: the charge transitions (one UPDATE per group of identical changes, one INSERT of their
    events), one INSERT of their InvoiceCharge rows and one charges_requested for all, whose payments receiver
    stores the attempts in this same transaction. An account without a saved method gets charge_failed and
    credit_card_error instead. Returns {invoice pk: its charge, or None (no method)}; an invoice another run
    moved meanwhile is left out. Raises ChargeNotRequested (nothing kept) when payments did not take them."""
    for invoice in invoices:
        tracing.add_keys(**notify.invoice_keys(invoice), lms_user_id=invoice.account.lms_user_id)
    with transaction.atomic():
        answer = _no_method([i for i in invoices if not i.account.has_payment_method], actor, why)
        chains = [(i, [_charge_step(i, why)]) for i in invoices if i.account.has_payment_method]
        moved = transition_many(chains, actor)
        charged = [invoice for invoice, _ in chains if invoice.pk in moved]
        if charged:
            answer.update(_store_and_request(charged))
    return answer


def _charge_step(invoice: Invoice, why: str) -> Step:
    attempt, provider = invoice.attempts + 1, invoice.account.payment_provider
    reason = f"attempt {attempt} ({invoice.idempotency_key(attempt)}) through {provider}" + (f": {why}" if why else "")
    return Step("charge", reason, {"attempts": attempt, "charge_in_flight": True, "next_attempt_at": None})


def _no_method(invoices: list[Invoice], actor: str, why: str) -> dict[int, None]:
    """charge_failed (the attempt counted, the next one on the retry days) and credit_card_error on commit."""
    reason = "the account has no saved payment method" + (f" ({why})" if why else "")
    chains = [(invoice, [Step("charge_failed", reason, {"attempts": invoice.attempts + 1, "last_error":
              "no saved payment method", "next_attempt_at": next_attempt_at(invoice, invoice.attempts + 1)})])
              for invoice in invoices]  # fmt: skip
    moved = transition_many(chains, actor)
    for invoice, _ in chains:
        if invoice.pk in moved:
            notify.invoice_notice(
                "credit_card_error", invoice, invoice=invoice.as_data(), charge=None, owner=invoice.account.owner_data()
            )
    return dict.fromkeys(moved)


def _store_and_request(invoices: list[Invoice]) -> dict[int, InvoiceCharge]:
    """The attempts' InvoiceCharge rows (one INSERT) and one charges_requested naming them all."""
    trace_id, now = tracing.current_trace_id() or "", clock.now()
    rows = [
        {"invoice_id": i.pk, "attempt": i.attempts, "idempotency_key": i.idempotency_key(i.attempts),
         "provider": i.account.payment_provider, "amount": i.total, "currency": i.currency}
        for i in invoices
    ]  # fmt: skip
    insert_rows(InvoiceCharge, {"trace_id": trace_id, "requested_at": now}, rows)
    sent = charges_requested.send("invoicing", charges=[_request(i) for i in invoices])
    if not sent.ok or not len(sent):
        errors = [str(r.error) for r in sent if r.error is not None] or ["no receiver is routed"]
        raise ChargeNotRequested(f"charges_requested for {len(invoices)} attempt(s) failed: {'; '.join(errors)}")
    stored = InvoiceCharge.objects.filter(idempotency_key__in=[row["idempotency_key"] for row in rows])
    return {charge.invoice_id: charge for charge in stored}


def _request(invoice: Invoice) -> dict:
    """One entry of charges_requested (plain data: the amount as a decimal string)."""
    account = invoice.account
    return {
        "invoice_number": invoice.number,
        "amount": str(invoice.total),
        "currency": invoice.currency,
        "provider": account.payment_provider,
        "payment_token": account.payment_token,
        "idempotency_key": invoice.idempotency_key(invoice.attempts),
        "lms_user_id": account.lms_user_id,
    }


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
