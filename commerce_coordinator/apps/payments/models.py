"""The webhook inbox: every verified provider event, stored before it is acted on (a core durable work item)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from commerce_coordinator.apps.core import durable


class WebhookStatus(models.TextChoices):
    """Core's work statuses, labelled in the inbox's own words, and two terminal ones no task ever takes."""

    PENDING = durable.WorkStatus.PENDING.value, "received (pending)"
    RUNNING = durable.WorkStatus.RUNNING.value, "processing (running)"
    RETRY = durable.WorkStatus.RETRY.value, "failed, retry due (retry)"
    DONE = durable.WorkStatus.DONE.value, "processed (done)"
    FAILED = durable.WorkStatus.FAILED.value, "failed (dead letter)"
    IGNORED = "ignored", "ignored (a type no signal maps)"
    UNROUTABLE = "unroutable", "unroutable (names no order: see the reason)"


# The inbox's words before it became a durable work item (ADR 0015): still accepted by the replay command.
LEGACY_STATUS = {
    "received": WebhookStatus.PENDING,
    "processing": WebhookStatus.RUNNING,
    "processed": WebhookStatus.DONE,
}


# A refund's last error while the payment it refunds is not processed yet (payments.processing).
WAITING_FOR_PAYMENT = "waiting for its payment"


class WebhookEvent(durable.DurableWorkItem):
    Status = WebhookStatus

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255, help_text="The provider's id of this event (unique per provider).")
    type = models.CharField(max_length=100, help_text="The provider's event type.")
    payload = models.JSONField(help_text="The event as the provider sent it (parsed).")
    metadata_override = models.JSONField(
        default=dict,
        blank=True,
        help_text="Order metadata an operator supplied (replay_webhook_events --set-metadata), "
        "read over the payload's.",
    )
    signal = models.CharField(max_length=64, blank=True, default="", help_text="The coordinator signal it maps to.")
    order_number = models.CharField(max_length=128, blank=True, default="", db_index=True)
    payment_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    # Core's fields, redeclared: more statuses (no index of its own: payments_event_status_idx leads with it),
    # and the receipt time under the name operators know.
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    created_at = models.DateTimeField("received at", default=timezone.now, db_index=True)

    retry_schedule_setting = "PAYMENTS_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.payments.tasks.process_webhook_event"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="payments_event_unique")]
        indexes = [models.Index(fields=["status", "updated_at"], name="payments_event_status_idx")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} ({self.type}, {self.status})"

    @classmethod
    def stalled(cls, now=None):
        """Core's stalled items, and refunds that gave up waiting for a payment processed since (its wake lost
        with the worker that processed it: ``inbox.wake_refunds``), so that core's sweep wakes them."""
        now = now or timezone.now()
        overdue = now - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER)
        paid = cls._default_manager.filter(
            provider=OuterRef("provider"),
            payment_id=OuterRef("payment_id"),
            signal="payment_succeeded",
            status=WebhookStatus.DONE,
            updated_at__lt=overdue,
        )
        stranded = cls._default_manager.filter(
            Exists(paid),
            status=WebhookStatus.FAILED,
            signal="payment_refunded",
            last_error__contains=WAITING_FOR_PAYMENT,
        )
        return super().stalled(now) | stranded

    @property
    def received_at(self):
        return self.created_at

    def key_values(self) -> dict:
        keys = {"event_id": self.event_id, "payment_id": self.payment_id, "order_number": self.order_number}
        return {key: value for key, value in keys.items() if value}

    def work_label(self) -> str:
        return f"webhook {self.provider}:{self.event_id} ({self.type})"


# Charges of saved payment methods (durable work items answering invoicing's charges_requested).
from .charges import ChargeAttempt  # noqa: E402,F401

# Refunds of invoice payments (durable work items answering invoicing's refund_requested).
from .refunds import RefundAttempt  # noqa: E402,F401
