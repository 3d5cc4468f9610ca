"""Charging a saved payment method on request (invoicing's charges_requested), exactly once per attempt.

Each request is a ChargeAttempt: a durable work item (core.durable) stored BEFORE the provider is
called, unique on the idempotency key the requester chose (one key per attempt, e.g. `inv-7-a2`). Its
task calls the provider with that key (so a retry after a crash mid-call cannot charge twice), retries
network errors, timeouts, 5xx and 429 on PAYMENTS_CHARGE_RETRY_SCHEDULE, and answers with
charge_succeeded or charge_failed (a decline is an answer, never retried here; a dead letter is one too).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.db import models

from commerce_coordinator.apps.core import durable

from . import clients

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
    created = durable.store_many(ChargeAttempt, rows, key="idempotency_key")
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
    """The work of one try: the provider call, its answer stored, and the answering signal sent."""
    from .signals import charge_failed, charge_succeeded

    answer = clients.CHARGERS[attempt.provider](
        token=attempt.payment_token,
        amount=attempt.amount,
        currency=attempt.currency,
        idempotency_key=attempt.idempotency_key,
        invoice_number=attempt.invoice_number,
        lms_user_id=attempt.lms_user_id,
    )
    fields = answer.as_fields()
    fields["provider_status"] = fields.pop("status")
    ChargeAttempt.objects.filter(pk=attempt.pk).update(**fields)
    arguments = attempt.answer_arguments(answer)
    if answer.result == "succeeded":
        charge_succeeded.send(ChargeAttempt, **arguments)
    else:
        charge_failed.send(ChargeAttempt, **arguments, decline=answer.decline)
    return {"result": answer.result, "decline": answer.decline, "charge_id": answer.charge_id}


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    name="payments.run_charge_attempt",
    rate_limit=settings.PAYMENTS_CHARGE_RATE_LIMIT,  # per worker; a 429 is retried after its Retry-After
)
def run_charge_attempt(self, attempt_pk: int):
    """One charge attempt's task (durable: claimed, retried on the policy, dead-lettered)."""
    return durable.run(ChargeAttempt, attempt_pk, self, charge)


STRIPE_CHARGE_EVENTS = {
    "payment_intent.succeeded": "charge_succeeded",
    "payment_intent.payment_failed": "charge_failed",
}


def stripe_webhook_answer(event_type: str, intent: dict):
    """A Stripe webhook about one of our charges (its metadata names `charge_key`): the answer of that same
    attempt, sent again as charge_succeeded / charge_failed (invoicing records an attempt's answer once,
    and lets a success confirm an attempt whose calls all timed out). None: not an event to act on."""
    from .providers import Mapped

    signal = STRIPE_CHARGE_EVENTS.get(event_type)
    metadata = intent.get("metadata") if isinstance(intent.get("metadata"), dict) else {}
    attempt = ChargeAttempt.objects.filter(idempotency_key=str(metadata.get("charge_key", ""))[:64]).first()
    if signal is None or attempt is None:
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
    kwargs = attempt.answer_arguments(answer)
    if signal == "charge_failed":
        kwargs["decline"] = answer.decline
    return Mapped(signal, kwargs)
