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
from django.db.models import F

from commerce_coordinator.apps.core import hotsql, tracing
from commerce_coordinator.apps.core.bulk import insert_rows

from . import clock, dunning, notify
from .models import Invoice, InvoiceCharge, InvoiceState
from .signals import charges_requested
from .states import Computed, StaleInvoice, Step, transition, transition_many

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
    if why := sent.refusal():
        raise ChargeNotRequested(f"charges_requested for {len(invoices)} attempt(s) failed: {why}")
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


def _answer_fields(answer: dict, decline: str, now) -> dict:
    fields = {name: str(answer.get(name, ""))[:255] for name in ANSWER_FIELDS}
    fields.update(provider_status=str(answer.get("status", ""))[:64], decline=decline, answered_at=now)
    fields["message"] = str(answer.get("message", ""))
    return fields


def record_answer(idempotency_key: str, succeeded: bool, decline: str = "", **answer) -> dict:
    """charge_succeeded / charge_failed: record the answer once per attempt and transition the invoice."""
    charge = InvoiceCharge.objects.filter(idempotency_key=idempotency_key).first()
    if charge is None:
        logger.warning("A charge answer for %s names no invoice attempt of ours; ignored", idempotency_key)
        return {"ignored": f"unknown attempt {idempotency_key}"}
    tracing.add_keys(invoice_number=answer.get("invoice_number", ""))
    fields = _answer_fields(answer, decline, clock.now())
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


def record_answers(answers: list[dict]) -> dict:
    """charges_answered: a chunk's answers (each charge_failed's arguments; decline "" for a success), recorded as
    record_answer records each, with grouped statements in one transaction (ADR 0035): the attempts read and
    locked with one SELECT, the answers stored with one UPDATE (a duplicate changes nothing), the invoices read with one
    SELECT and moved by transition_many (one UPDATE per group of identical changes, one INSERT of events), and
    the notices (invoice_sent / credit_card_error, the dunning evaluations) stored with one INSERT. An invoice
    that is not in the plain case (no longer unpaid or open, or moved meanwhile) is handled as record_answer
    would. Returns {idempotency key: outcome}."""
    answers_by_key = {str(answer["idempotency_key"]): answer for answer in answers}
    outcomes: dict[str, dict] = {}
    now = clock.now()
    for answer in answers:
        tracing.add_keys(invoice_number=answer.get("invoice_number", ""))
    with transaction.atomic():
        charges = list(InvoiceCharge.objects.select_for_update().filter(idempotency_key__in=list(answers_by_key)))
        for key in answers_by_key.keys() - {charge.idempotency_key for charge in charges}:
            logger.warning("A charge answer for %s names no invoice attempt of ours; ignored", key)
            outcomes[key] = {"ignored": f"unknown attempt {key}"}
        fresh, updates = [], {}
        for charge in charges:
            answer = answers_by_key[charge.idempotency_key]
            succeeded = answer["result"] == "succeeded"
            confirms = succeeded and charge.status == InvoiceCharge.Status.FAILED and charge.result == "error"
            if charge.status != InvoiceCharge.Status.REQUESTED and not confirms:
                outcomes[charge.idempotency_key] = {"duplicate": charge.idempotency_key}
                continue
            status = InvoiceCharge.Status.SUCCEEDED if succeeded else InvoiceCharge.Status.FAILED
            fields = {"status": status, **_answer_fields(answer, answer.get("decline", ""), now)}
            updates[charge.pk] = fields
            for name, value in fields.items():
                setattr(charge, name, value)
            fresh.append((charge, succeeded))
        if fresh:
            hotsql.update_each(InvoiceCharge, updates, {})  # one UPDATE; the rows are locked: no condition
            outcomes.update(_apply_answers(fresh, now))
    return outcomes


def _apply_answers(fresh: list[tuple[InvoiceCharge, bool]], now) -> dict[str, dict]:
    invoices = Invoice.objects.select_related("account").in_bulk([charge.invoice_id for charge, _ in fresh])
    outcomes, notices, by_actor, alone = {}, [], {}, []
    for charge, succeeded in fresh:
        invoice = charge.invoice = invoices[charge.invoice_id]
        notices.append(dunning.evaluation_after(charge))
        if succeeded and invoice.state in Invoice.UNPAID:
            step = _pay_step(invoice, charge, now)
        elif not succeeded and invoice.state == InvoiceState.OPEN:
            step = _failed_step(invoice, charge)
        else:  # paid while void, a failure on a paid invoice...: as record_answer handles it
            alone.append((charge, succeeded))
            continue
        by_actor.setdefault(f"payments:{charge.provider}", []).append((invoice, [step], charge, succeeded))
    for actor, planned in by_actor.items():
        moved = transition_many([(invoice, steps) for invoice, steps, _, _ in planned], actor)
        for invoice, _, charge, succeeded in planned:
            if invoice.pk not in moved:  # moved meanwhile (a dunning step, an operator): read it again
                alone.append((charge, succeeded))
                continue
            owner = invoice.account.owner_data()
            if succeeded:
                sent = notify.invoice_notice_of("invoice_sent", invoice, invoice=invoice.as_data(), owner=owner)
                notices.append(sent)
                outcomes[charge.idempotency_key] = {"invoice": invoice.number, "state": invoice.state}
            else:
                notices.append(notify.invoice_notice_of("credit_card_error", invoice, invoice=invoice.as_data(),
                                                        charge=charge.as_data(), owner=owner))  # fmt: skip
                outcomes[charge.idempotency_key] = {"invoice": invoice.number, "state": invoice.state,
                                                    "next_attempt_at": invoice.next_attempt_at}  # fmt: skip
    notify.store_many(notices)
    for charge, succeeded in alone:
        outcomes[charge.idempotency_key] = _apply_answer(charge, succeeded)
    return outcomes


def _pay_step(invoice: Invoice, charge: InvoiceCharge, now) -> Step:
    """`pay` as _paid applies it; the amount paid is computed from the total when it is the charge's amount, so
    a chunk's payments of different totals share one UPDATE."""
    amount = Computed(F("total"), charge.amount) if charge.amount == invoice.total else charge.amount
    fields = {"amount_paid": amount, "paid_at": now, "charge_in_flight": False, "next_attempt_at": None,
              "payment_overdue": False, "last_error": ""}  # fmt: skip
    return Step("pay", f"{charge.idempotency_key} succeeded ({charge.charge_id})", fields)


def _failed_step(invoice: Invoice, charge: InvoiceCharge) -> Step:
    """`charge_failed` as _failed applies it."""
    why = _failure_reason(charge)
    hard = charge.decline == "hard"
    retry_at = None if hard else next_attempt_at(invoice, invoice.attempts)
    reason = why + ("; hard decline: no more attempts with this method" if hard else "")
    return Step("charge_failed", reason, {"charge_in_flight": False, "next_attempt_at": retry_at,
                                          "last_error": why[:2000]})  # fmt: skip


def _failure_reason(charge: InvoiceCharge) -> str:
    return f"{charge.idempotency_key} {charge.result}: {charge.reject_reason or charge.response_code} {charge.message}"


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
    step = _pay_step(invoice, charge, clock.now())
    transition(invoice, step.action, reason=step.reason, actor=f"payments:{charge.provider}", **step.fields)
    notify.invoice_notice("invoice_sent", invoice, invoice=invoice.as_data(), owner=invoice.account.owner_data())
    return {"invoice": invoice.number, "state": invoice.state}


def _failed(invoice: Invoice, charge: InvoiceCharge) -> dict:
    why = _failure_reason(charge)
    if invoice.state != InvoiceState.OPEN:
        Invoice.objects.filter(pk=invoice.pk).update(charge_in_flight=False, last_error=why[:2000])
        return {"invoice": invoice.number, "state": invoice.state}
    step = _failed_step(invoice, charge)
    retry_at = step.fields["next_attempt_at"]
    transition(invoice, step.action, reason=step.reason, actor=f"payments:{charge.provider}", **step.fields)
    owner = invoice.account.owner_data()
    notify.invoice_notice("credit_card_error", invoice, invoice=invoice.as_data(), charge=charge.as_data(), owner=owner)
    return {"invoice": invoice.number, "state": invoice.state, "next_attempt_at": retry_at}
