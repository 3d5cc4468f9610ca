"""Refunding a provider payment on request (invoicing's refund_requested), exactly once per refund.

Each request is a RefundAttempt: a durable work item (core.durable) stored BEFORE the provider is called,
unique on the idempotency key the requester chose (one key per refund, e.g. `inv-7-r1`). Its task calls the
provider's refund API with that key (Stripe's Idempotency-Key, CloudPayments' X-Request-ID: a retry after a
crash mid-call cannot refund twice), retries network errors, timeouts, 5xx and 429 on
PAYMENTS_REFUND_RETRY_SCHEDULE, and answers with refund_succeeded or refund_failed. A refund the provider
took and reports failed is an answer; a request it refuses (a 4xx, CloudPayments' Success=false) or retries
that are spent dead-letter the item, which answers refund_failed with status "error" and the reason.

The provider calls live here rather than in clients.py, which they share the transport of
(clients.stripe_client, clients.stripe_failure, clients.cloudpayments_post).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import stripe
from celery import shared_task
from django.db import models

from commerce_coordinator.apps.core import durable, retries

from . import clients


@dataclass
class RefundAnswer:
    """The provider's answer to a refund request it accepted."""

    result: str  # "succeeded" or "failed"
    status: str = ""  # the provider's status of the refund
    refund_id: str = ""
    message: str = ""


class RefundAttempt(durable.DurableWorkItem):
    invoice_number = models.CharField(max_length=64, db_index=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    lms_user_id = models.PositiveBigIntegerField()
    provider = models.CharField(max_length=32)
    payment_id = models.CharField(max_length=255, help_text="Stripe PaymentIntent id, CloudPayments TransactionId.")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.TextField(blank=True, default="")
    # The provider's answer.
    result = models.CharField(max_length=16, blank=True, default="", help_text="succeeded, failed, error")
    provider_status = models.CharField(max_length=64, blank=True, default="")
    refund_id = models.CharField(max_length=255, blank=True, default="")
    message = models.TextField(blank=True, default="")

    retry_schedule_setting = "PAYMENTS_REFUND_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.payments.refunds.run_refund_attempt"

    class Meta:
        app_label = "payments"
        ordering = ["-id"]

    def __str__(self):
        return f"refund {self.idempotency_key} ({self.status})"

    def key_values(self) -> dict:
        return {"invoice_number": self.invoice_number, "payment_id": self.payment_id, "lms_user_id": self.lms_user_id}

    def work_label(self) -> str:
        return f"refund {self.idempotency_key}"

    def answer_arguments(self, answer: RefundAnswer) -> dict:
        return {
            "invoice_number": self.invoice_number,
            "idempotency_key": self.idempotency_key,
            "amount": self.amount,
            "currency": self.currency,
            "provider": self.provider,
            "payment_id": self.payment_id,
            "refund_id": answer.refund_id,
            "status": answer.status,
            "message": answer.message,
        }

    def on_dead_letter(self, reason: str) -> None:
        """Refused outright or retries spent: the requester hears it as a failed refund (status 'error')."""
        from .signals import refund_failed

        type(self).objects.filter(pk=self.pk).update(result="error", provider_status="error", message=reason)
        refund_failed.send(RefundAttempt, **self.answer_arguments(RefundAnswer("error", "error", "", reason)))


def request_refund(
    sender, invoice_number, amount, currency, provider, payment_id, idempotency_key, reason, lms_user_id, **kwargs
):
    """refund_requested: store the refund (once per idempotency key) and queue its task on commit."""
    if provider not in REFUNDERS:
        raise retries.PermanentError(f"cannot refund through provider {provider!r}; known: {', '.join(REFUNDERS)}")
    attempt, created = RefundAttempt.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "invoice_number": invoice_number,
            "lms_user_id": lms_user_id,
            "provider": provider,
            "payment_id": payment_id,
            "amount": Decimal(amount),
            "currency": currency.upper(),
            "reason": reason,
        },
    )
    if created:
        attempt.enqueue()
    return {"refund": attempt.pk, "created": created, "status": attempt.status}


def refund(attempt: RefundAttempt) -> dict:
    """The work of one try: the provider call, its answer stored, and the answering signal sent."""
    from .signals import refund_failed, refund_succeeded

    answer = REFUNDERS[attempt.provider](
        payment_id=attempt.payment_id,
        amount=attempt.amount,
        currency=attempt.currency,
        idempotency_key=attempt.idempotency_key,
        reason=attempt.reason,
        invoice_number=attempt.invoice_number,
    )
    RefundAttempt.objects.filter(pk=attempt.pk).update(
        result=answer.result, provider_status=answer.status, refund_id=answer.refund_id, message=answer.message
    )
    signal = refund_succeeded if answer.result == "succeeded" else refund_failed
    signal.send(RefundAttempt, **attempt.answer_arguments(answer))
    return {"result": answer.result, "status": answer.status, "refund_id": answer.refund_id}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="payments.run_refund_attempt")
def run_refund_attempt(self, attempt_pk: int):
    """One refund's task (durable: claimed, retried on the policy, dead-lettered)."""
    return durable.run(RefundAttempt, attempt_pk, self, refund)


# --- the providers' refund APIs ------------------------------------------------------------

STRIPE_ACCEPTED = {"succeeded", "pending"}  # pending: Stripe took it and settles it later (ADR 63)


def refund_stripe(*, payment_id, amount, currency, idempotency_key, reason, invoice_number) -> RefundAnswer:
    """POST /v1/refunds through the stripe library (the client's form of stripe.Refund.create)."""
    params = {
        "payment_intent": payment_id,
        "amount": clients.minor_units(amount, currency),
        "metadata": {"invoice_number": invoice_number, "refund_key": idempotency_key, "reason": reason[:500]},
    }
    try:
        made = clients.stripe_client().v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
    except stripe.error.StripeError as exc:
        raise clients.stripe_failure(exc) from None
    if made.status in STRIPE_ACCEPTED:
        return RefundAnswer("succeeded", made.status, made.id)
    why = getattr(made, "failure_reason", None) or f"the refund is {made.status}"
    return RefundAnswer("failed", made.status, made.id, str(why))


def refund_cloudpayments(*, payment_id, amount, currency, idempotency_key, reason, invoice_number) -> RefundAnswer:
    """POST /payments/refund (TransactionId, Amount); the answer's Model.TransactionId is the refund's own."""
    body = {
        "TransactionId": int(payment_id) if payment_id.isdigit() else payment_id,
        "Amount": float(amount),
        "JsonData": {"invoice_number": invoice_number, "refund_key": idempotency_key},
    }
    data = clients.cloudpayments_post("/payments/refund", body, idempotency_key)
    if not data.get("Success"):
        raise retries.PermanentError(f"CloudPayments refused the refund: {data.get('Message')}", status_code=200)
    model = data.get("Model") if isinstance(data.get("Model"), dict) else {}
    return RefundAnswer("succeeded", "Completed", str(model.get("TransactionId", "")))


REFUNDERS = {"stripe": refund_stripe, "cloudpayments": refund_cloudpayments}
