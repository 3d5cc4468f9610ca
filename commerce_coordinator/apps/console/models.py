"""The audit of what operators did from the console (until core's durable-work audit takes it over)."""

from django.db import models


class OperatorAction(models.Model):
    """One operator action: who, when, what, why, and the trace in which the re-queued work runs."""

    class Action(models.TextChoices):
        RETRY_LINE = "retry_line", "Retry line"
        RETRY_ORDER = "retry_order", "Retry order"
        REPLAY_EVENT = "replay_event", "Replay webhook event"
        BULK_RETRY = "bulk_retry", "Bulk retry"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(max_length=255, help_text="What it acted on, e.g. 'line 12' or 'stripe:evt_1'.")
    order_number = models.CharField(max_length=128, blank=True, default="", db_index=True)
    reason = models.TextField()
    outcome = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.actor} {self.action} {self.target} at {self.created_at:%Y-%m-%d %H:%M}"
