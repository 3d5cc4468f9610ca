"""The webhook inbox: every verified provider event, stored before it is acted on."""

from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSING = "processing"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255, help_text="The provider's id of this event (unique per provider).")
    type = models.CharField(max_length=100, help_text="The provider's event type.")
    payload = models.JSONField(help_text="The event as the provider sent it (parsed).")
    signal = models.CharField(max_length=64, blank=True, default="", help_text="The coordinator signal it maps to.")
    order_number = models.CharField(max_length=128, blank=True, default="", db_index=True)
    payment_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a failed event waits for a retry; empty when the failure is final."
    )
    task_id = models.CharField(max_length=64, blank=True, default="", help_text="The task that claimed it last.")
    trace_id = models.CharField(max_length=32, db_index=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="payments_event_unique")]
        indexes = [models.Index(fields=["status", "updated_at"], name="payments_event_status_idx")]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} ({self.type}, {self.status})"


# Charges of saved payment methods (durable work items answering invoicing's charge_requested).
from .charges import ChargeAttempt  # noqa: E402,F401
