"""WebhookEvent becomes a core durable work item (ADR 0015): renamed columns keep their data, statuses are
mapped to core's words (received -> pending, processing -> running, processed -> done, failed with a
retry due -> retry), and the two terminal statuses of the inbox (ignored, and the new unroutable) stay."""

from django.db import migrations, models
from django.db.models import Q
import django.utils.timezone

FORWARD = [
    (Q(status="received"), "pending"),
    (Q(status="processing"), "running"),
    (Q(status="processed"), "done"),
    (Q(status="failed", next_attempt_at__isnull=False), "retry"),
]
BACKWARD = [
    (Q(status="pending"), "received"),
    (Q(status="running"), "processing"),
    (Q(status="done"), "processed"),
    (Q(status="retry"), "failed"),
    (Q(status="unroutable"), "failed"),
]


def _map(mapping):
    def run(apps, schema_editor):
        events = apps.get_model("payments", "WebhookEvent").objects.using(schema_editor.connection.alias)
        for condition, status in mapping:
            events.filter(condition).update(status=status)
        if mapping is FORWARD:
            events.filter(status="running").update(claimed_at=models.F("updated_at"))

    return run


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_case_sensitive_ids_on_mysql")]

    operations = [
        migrations.RenameField("webhookevent", "task_id", "claim_token"),
        migrations.RenameField("webhookevent", "processed_at", "finished_at"),
        migrations.RenameField("webhookevent", "received_at", "created_at"),
        migrations.AddField(
            "webhookevent", "claimed_at", models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            "webhookevent", "last_status_code", models.PositiveSmallIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            "webhookevent",
            "metadata_override",
            models.JSONField(
                blank=True,
                default=dict,
                help_text="Order metadata an operator supplied (replay_webhook_events --set-metadata), read over the payload's.",
            ),
        ),
        migrations.AlterField(
            "webhookevent",
            "claim_token",
            models.CharField(
                blank=True,
                default="",
                help_text="The id of the task run that holds, or may take, the item.",
                max_length=64,
            ),
        ),
        migrations.AlterField(
            "webhookevent",
            "created_at",
            models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name="received at"),
        ),
        migrations.AlterField(
            "webhookevent",
            "status",
            models.CharField(
                choices=[
                    ("pending", "received (pending)"),
                    ("running", "processing (running)"),
                    ("retry", "failed, retry due (retry)"),
                    ("done", "processed (done)"),
                    ("failed", "failed (dead letter)"),
                    ("ignored", "ignored (a type no signal maps)"),
                    ("unroutable", "unroutable (names no order: see the reason)"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            "webhookevent", "trace_id", models.CharField(blank=True, db_index=True, default="", max_length=32)
        ),
        migrations.AlterField("webhookevent", "next_attempt_at", models.DateTimeField(blank=True, null=True)),
        migrations.AlterModelOptions("webhookevent", options={"ordering": ["-created_at"]}),
        migrations.RunPython(_map(FORWARD), _map(BACKWARD)),
    ]
