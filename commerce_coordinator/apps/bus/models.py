"""The ledger of bus commands that were carried out: its unique message_id makes a redelivery change nothing."""

from django.db import models


class ProcessedMessage(models.Model):
    """One bus command whose signal was sent and whose transaction committed (written in that transaction)."""

    message_id = models.CharField(max_length=255, unique=True)
    command = models.CharField(max_length=64, db_index=True)
    arguments = models.JSONField(default=dict, help_text="The message's arguments, as received.")
    trace_id = models.CharField(max_length=32, blank=True, db_index=True)
    processed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self):
        return f"{self.command} {self.message_id}"
