"""Charging a saved payment method on request (invoicing's charges_requested), exactly once per attempt.

Each request is a ChargeAttempt: a durable work item (core.durable) stored BEFORE the provider is
called, unique on the idempotency key the requester chose (one key per attempt, e.g. `inv-7-a2`). Its
task calls the provider with that key (so a retry after a crash mid-call cannot charge twice), retries
network errors, timeouts, 5xx and 429 on PAYMENTS_CHARGE_RETRY_SCHEDULE, and answers with
charge_succeeded or charge_failed (a decline is an answer, never retried here; a dead letter is one too).

A dispatch page's attempts are stored in chunks (PAYMENTS_CHARGE_CHUNK_SIZE) that share a claim token, and each
chunk is one task message (run_charge_chunk, ADR 0035): its attempts are claimed together, their provider calls
made concurrently within the process's rate limit (ratelimit.py), and their answers sent together as
charges_answered in the transaction that finishes them. A retry, the sweep and an operator's re-queue hand an
attempt to its own run_charge_attempt with a fresh token; an attempt with an earlier unknown outcome runs alone.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from commerce_coordinator.apps.core import durable, retries, tracing

from . import clients, ratelimit

logger = logging.getLogger(__name__)


class ChargeAttempt(durable.DurableWorkItem):
    invoice_number = models.CharField(max_length=64, db_index=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    lms_user_id = models.PositiveBigIntegerField()
    provider = models.CharField(max_length=32)
    payment_token = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    # The provider's answer (the seed's charge fields).
    result = models.CharField(max_length=16, blank=True, default="")
    provider_status = models.CharField(max_length=64, blank=True, default="")
    response_code = models.CharField(max_length=64, blank=True, default="")
    response_text = models.CharField(max_length=255, blank=True, default="")
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    charge_id = models.CharField(max_length=255, blank=True, default="")
    decline = models.CharField(max_length=8, blank=True, default="")

    retry_schedule_setting = "PAYMENTS_CHARGE_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.payments.charges.run_charge_attempt"
    chunk_task_path = "commerce_coordinator.apps.payments.charges.run_charge_chunk"

    class Meta:
        app_label = "payments"
        ordering = ["-id"]

    def __str__(self):
        return f"charge {self.idempotency_key} ({self.status})"

    def key_values(self) -> dict:
        return {"invoice_number": self.invoice_number, "lms_user_id": self.lms_user_id}

    def work_label(self) -> str:
        return f"charge {self.idempotency_key}"

    def answer_arguments(self, answer: clients.ChargeAnswer) -> dict:
        return {
            "invoice_number": self.invoice_number,
            "idempotency_key": self.idempotency_key,
            "lms_user_id": self.lms_user_id,
            "amount": self.amount,
            "currency": self.currency,
            "provider": self.provider,
            "charge_id": answer.charge_id,
            "result": answer.result,
            "status": answer.status,
            "response_code": answer.response_code,
            "response_text": answer.response_text[:255],
            "reject_reason": answer.reject_reason,
            "message": answer.message,
        }

    def on_dead_letter(self, reason: str) -> None:
        """Retries spent or refused outright: the requester hears it as a failed charge (decline 'error')."""
        from .signals import charge_failed

        answer = clients.ChargeAnswer("error", "error", str(self.last_status_code or ""), reason[:255], "", reason)
        type(self).objects.filter(pk=self.pk).update(result="error", message=reason)
        charge_failed.send(ChargeAttempt, **self.answer_arguments(answer), decline="error")


REQUEST_FIELDS = ("invoice_number", "amount", "currency", "provider", "payment_token", "idempotency_key", "lms_user_id")


def request_charges(sender, charges, **kwargs):
    """charges_requested: store each attempt once per idempotency key (one INSERT for all, conflicts ignored) in
    the sender's transaction, and publish the tasks of those stored now when it commits (core.durable.store_many).
    A request this receiver cannot take (an unknown provider, a field missing) refuses them all: the sender
    rolls back and asks again one by one."""
    rows = [_attempt_row(request) for request in charges]
    created = durable.store_many(ChargeAttempt, rows, key="idempotency_key", chunk=settings.PAYMENTS_CHARGE_CHUNK_SIZE)
    return {"requested": len(rows), "created": len(created), "existing": len(rows) - len(created)}


def _attempt_row(request: dict) -> dict:
    missing = [name for name in REQUEST_FIELDS if name not in request]
    if missing:
        raise ValueError(f"charge request {request.get('idempotency_key', '?')!r} lacks {', '.join(missing)}")
    if request["provider"] not in clients.CHARGERS:
        raise ValueError(
            f"cannot charge through provider {request['provider']!r}; known: {', '.join(clients.CHARGERS)}"
        )
    return {
        "idempotency_key": str(request["idempotency_key"]),
        "invoice_number": str(request["invoice_number"]),
        "lms_user_id": int(request["lms_user_id"]),
        "provider": request["provider"],
        "payment_token": str(request["payment_token"]),
        "amount": Decimal(str(request["amount"])),
        "currency": str(request["currency"]).upper(),
    }


def charge(attempt: ChargeAttempt) -> dict:
    """The work of one try: the provider call, its answer stored, and the answering signal sent; never while
    an earlier attempt of the same invoice has an unknown outcome (reconciled first, ADR 0033)."""
    from .signals import charge_failed

    charged = reconcile_earlier(attempt)
    if charged is not None:  # the invoice was paid by that earlier attempt: this one is not sent at all
        why = f"not charged: the earlier attempt {charged.idempotency_key} was charged ({charged.charge_id})"
        answer = clients.ChargeAnswer(NOT_CHARGED, message=why)
        ChargeAttempt.objects.filter(pk=attempt.pk).update(result=NOT_CHARGED, message=why)
        charge_failed.send(ChargeAttempt, **attempt.answer_arguments(answer), decline="error")
        return {"result": NOT_CHARGED, "charged_by": charged.idempotency_key}
    answer = call_provider(attempt)
    ChargeAttempt.objects.filter(pk=attempt.pk).update(**answer_fields(attempt, answer))
    send_answer(attempt, answer)
    return {"result": answer.result, "decline": answer.decline, "charge_id": answer.charge_id}


def call_provider(attempt: ChargeAttempt) -> clients.ChargeAnswer:
    """The provider call of one attempt under its idempotency key, within the process's rate limit (a 429
    pauses every call for its Retry-After, then raises: the attempt is retried on its policy). No database."""
    ratelimit.calls.wait()
    try:
        return clients.CHARGERS[attempt.provider](
            token=attempt.payment_token,
            amount=attempt.amount,
            currency=attempt.currency,
            idempotency_key=attempt.idempotency_key,
            invoice_number=attempt.invoice_number,
            lms_user_id=attempt.lms_user_id,
        )
    except retries.WorkError as exc:
        if exc.status_code == 429:
            ratelimit.calls.back_off(exc.retry_after)
        raise


def answer_fields(attempt: ChargeAttempt, answer: clients.ChargeAnswer) -> dict:
    """The attempt's columns that store the provider's answer."""
    fields = answer.as_fields()
    fields["provider_status"] = fields.pop("status")
    return fields


def send_answer(attempt: ChargeAttempt, answer: clients.ChargeAnswer) -> None:
    """One attempt's answer: charge_succeeded, or charge_failed with its decline."""
    from .signals import charge_failed, charge_succeeded

    arguments = attempt.answer_arguments(answer)
    if answer.result == "succeeded":
        charge_succeeded.send(ChargeAttempt, **arguments)
    else:
        charge_failed.send(ChargeAttempt, **arguments, decline=answer.decline)


def send_answers(answered: list[tuple[ChargeAttempt, clients.ChargeAnswer]]) -> None:
    """A chunk's answers in one charges_answered (invoicing records them together), in the transaction that
    finished their attempts. When no receiver took them (its writes rolled back in its savepoint), each answer is
    sent alone, as its own task would have (charge_succeeded / charge_failed)."""
    from .signals import charges_answered

    answers = [{**attempt.answer_arguments(answer), "decline": answer.decline} for attempt, answer in answered]
    sent = charges_answered.send(ChargeAttempt, answers=answers)
    if not (why := sent.refusal()):
        return
    logger.warning("charges_answered of %d answer(s) was not taken (%s); sending them one by one", len(answers), why)
    for attempt, answer in answered:
        send_answer(attempt, answer)


def with_unknown_earlier(attempts: list[ChargeAttempt]) -> list[int]:
    """The attempts (pks) of a chunk whose invoice has an earlier attempt with an unknown outcome: they run alone,
    through `charge`, which reconciles first (ADR 0033). One SELECT for the chunk."""
    numbers = {attempt.invoice_number for attempt in attempts}
    unknown = set(_unknown_outcomes().filter(invoice_number__in=numbers).values_list("invoice_number", "pk"))
    return [a.pk for a in attempts if any(number == a.invoice_number and pk != a.pk for number, pk in unknown)]


def call_executor():
    """The process's pool for the concurrent provider calls of chunks (PAYMENTS_CHARGE_CALL_THREADS threads; 1:
    one after another)."""
    return durable.thread_pool("charge-call", settings.PAYMENTS_CHARGE_CALL_THREADS)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    name="payments.run_charge_attempt",
)
def run_charge_attempt(self, attempt_pk: int):
    """One charge attempt's task (durable: claimed, retried on the policy, dead-lettered). Its provider call
    is within the process's rate limit (PAYMENTS_CHARGE_RATE_LIMIT, ratelimit.py)."""
    return durable.run(ChargeAttempt, attempt_pk, self, charge)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="payments.run_charge_chunk")
def run_charge_chunk(self, attempt_pks: list):
    """A chunk of a page's attempts, stored under this task's id (ADR 0035): claimed together, called concurrently,
    answered together; a retryable failure of one is handed to its own run_charge_attempt."""
    return durable.run_many(
        ChargeAttempt, attempt_pks, self, call=call_provider, fields=answer_fields, record=send_answers,
        work=charge, alone=with_unknown_earlier, executor=call_executor(),
    )  # fmt: skip


NOT_CHARGED = "not_charged"


def _unknown_outcomes():
    """Attempts whose outcome is unknown: dead-lettered without an answer (every call failed or timed out)."""
    return ChargeAttempt.objects.filter(status=durable.WorkStatus.FAILED, result="error")


def _audit(attempt_pk: int, key: str, action: str, actor: str, why: str, outcome: str):
    from commerce_coordinator.apps.core.models import WorkAudit

    return WorkAudit.objects.create(
        item_type=ChargeAttempt._meta.label_lower,
        item_id=str(attempt_pk),
        item_label=f"charge {key}"[:255],
        action=action,
        actor=actor[:150],
        reason=why,
        outcome=outcome,
        trace_id=tracing.current_trace_id() or "",
    )


def confirm_attempt(idempotency_key: str, charge_id: str, provider_status: str, actor: str, why: str):
    """The provider says a charge whose attempt was dead-lettered (outcome unknown: result "error") went
    through: the attempt is done, result succeeded, with the provider's charge id, and a core.WorkAudit row
    says who reported it. None when the attempt is not such a dead letter (nothing changes)."""
    now = timezone.now()
    with transaction.atomic():
        unknown = _unknown_outcomes().filter(idempotency_key=idempotency_key[:64])
        before = unknown.values_list("pk", "last_error").first()
        if before is None or not unknown.update(
            status=durable.WorkStatus.DONE, result="succeeded", charge_id=charge_id[:255],
            provider_status=provider_status[:64], decline="", updated_at=now, finished_at=now,
        ):  # fmt: skip
            return None
        outcome = f"done: succeeded as {charge_id} (was failed: {before[1][:300]})"
        return _audit(before[0], idempotency_key, "confirm", actor, why, outcome)


def reconcile_earlier(attempt: ChargeAttempt) -> ChargeAttempt | None:
    """Before `attempt` calls the provider, look up every earlier attempt of its invoice whose outcome is
    unknown at that attempt's provider (ADR 0033). One found charged is confirmed and answered (the invoice
    is paid by it) and returned; one found not charged is recorded as such (audited). A lookup that fails
    raises: `attempt` is retried on its policy and calls nothing while an outcome is unknown."""
    from .signals import charge_succeeded

    actor = f"reconcile:{attempt.idempotency_key}"
    for unknown in _unknown_outcomes().filter(invoice_number=attempt.invoice_number).exclude(pk=attempt.pk):
        with tracing.span("work", f"reconcile {unknown.idempotency_key}", **unknown.key_values()) as node:
            found = clients.FINDERS[unknown.provider](
                idempotency_key=unknown.idempotency_key, invoice_number=unknown.invoice_number
            )
            if node is not None:
                node.result = "charged" if found is not None else NOT_CHARGED
        if found is None:
            why = f"{unknown.provider} has no charge of {unknown.idempotency_key}: it was not charged"
            if _unknown_outcomes().filter(pk=unknown.pk).update(result=NOT_CHARGED, message=why):
                _audit(unknown.pk, unknown.idempotency_key, "reconcile", actor, why, f"failed: {NOT_CHARGED}")
            continue
        why = f"{unknown.provider} charged {unknown.idempotency_key} ({found.charge_id}) although every call failed"
        if confirm_attempt(unknown.idempotency_key, found.charge_id, found.status, actor, why) is not None:
            charge_succeeded.send(ChargeAttempt, **unknown.answer_arguments(found))
        unknown.charge_id = found.charge_id
        return unknown
    return None


def record_confirmation(sender, idempotency_key, charge_id, status, provider, **answer):
    """charge_succeeded: when it confirms an attempt that was dead-lettered (a webhook, or the reconciliation
    before a later attempt), payments' own attempt records it too (for any other attempt: nothing)."""
    if sender is ChargeAttempt:  # the attempt's own answer (or the reconciliation, which confirmed it first)
        return {"confirmed": False, "idempotency_key": idempotency_key}
    why = f"{provider} reported {charge_id} succeeded after the attempt was dead-lettered"
    audit = confirm_attempt(idempotency_key, charge_id, status, f"provider:{provider}", why)
    return {"confirmed": audit is not None, "idempotency_key": idempotency_key}


STRIPE_CHARGE_EVENTS = {
    "payment_intent.succeeded": "charge_succeeded",
    "payment_intent.payment_failed": "charge_failed",
}


def stripe_webhook_answer(event_type: str, intent: dict):
    """A Stripe webhook about one of our charges (its metadata names `charge_key`): the answer of that same
    attempt, sent again as charge_succeeded / charge_failed (invoicing records an attempt's answer once,
    and lets a success confirm an attempt whose calls all timed out). None: not an event to act on."""
    signal = STRIPE_CHARGE_EVENTS.get(event_type)
    metadata = intent.get("metadata") if isinstance(intent.get("metadata"), dict) else {}
    if signal is None:
        return None
    error = intent.get("last_payment_error") if isinstance(intent.get("last_payment_error"), dict) else {}
    code = str(error.get("decline_code") or error.get("code") or "")
    answer = clients.ChargeAnswer(
        result="succeeded" if signal == "charge_succeeded" else "declined",
        status=str(intent.get("status", "")),
        response_code=code,
        response_text=str(error.get("message", ""))[:255],
        reject_reason=str(error.get("code", "")),
        message=str(error.get("message", "")),
        charge_id=str(intent.get("id", "")),
        decline="" if signal == "charge_succeeded" else ("hard" if code in clients.STRIPE_HARD_DECLINES else "soft"),
    )
    return _webhook_answer(metadata.get("charge_key"), answer)


CLOUDPAYMENTS_CHARGE_EVENTS = ("pay", "fail")


def cloudpayments_webhook_answer(event_type: str, payload: dict, data: dict):
    """A CloudPayments Pay / Fail notification of one of our token charges: its Data (the JsonData the charge
    request sent, clients.charge_cloudpayments) names the attempt's `charge_key`. Mapped like Stripe's."""
    if event_type not in CLOUDPAYMENTS_CHARGE_EVENTS:
        return None
    code = str(payload.get("ReasonCode") or "0")
    declined = event_type == "fail"
    answer = clients.ChargeAnswer(
        result="declined" if declined else "succeeded",
        status=str(payload.get("Status", "")),
        response_code=code,
        response_text=str(payload.get("Reason") or "")[:255] if declined else "",
        reject_reason=str(payload.get("Reason") or "") if declined else "",
        message=str(payload.get("CardHolderMessage") or "") if declined else "",
        charge_id=str(payload.get("TransactionId", "")),
        decline=("hard" if code.isdigit() and int(code) in clients.CLOUDPAYMENTS_HARD_DECLINES else "soft")
        if declined
        else "",
    )
    return _webhook_answer(data.get("charge_key"), answer)


def _webhook_answer(charge_key, answer: clients.ChargeAnswer):
    """charge_succeeded / charge_failed for the attempt `charge_key` names; None when it names none of ours."""
    from .providers import Mapped

    attempt = ChargeAttempt.objects.filter(idempotency_key=str(charge_key or "")[:64]).first()
    if attempt is None:
        return None
    kwargs = attempt.answer_arguments(answer)
    if answer.result == "succeeded":
        return Mapped("charge_succeeded", kwargs)
    return Mapped("charge_failed", {**kwargs, "decline": answer.decline})
