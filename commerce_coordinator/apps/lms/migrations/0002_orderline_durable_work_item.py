"""OrderLine becomes one of core's durable work items (issue 7), keeping every line's data.

Fields: task_token -> claim_token (the claiming task's id, without the old ":<retry>[:run]" suffixes),
last_attempt_at -> claimed_at, last_trace_id -> trace_id, created/modified -> created_at/updated_at;
new `action` (enroll/unenroll) and `finished_at`. The old line status splits into action + work status:
pending/refund_pending -> pending (running when a run held it, retry when it had been tried),
fulfilled/refunded -> done, failed/refund_failed -> failed. Orders gain lms_username, refunded_amount,
a nullable lms_user_id and the partially_refunded status.
"""

import django.utils.timezone
from django.db import migrations, models

UNENROLL = ("refund_pending", "refunded", "refund_failed")
MOVING = ("pending", "refund_pending")
OLD = {  # (action, work status) -> the old line status
    ("enroll", "done"): "fulfilled",
    ("enroll", "failed"): "failed",
    ("unenroll", "done"): "refunded",
    ("unenroll", "failed"): "refund_failed",
}


def to_work_items(apps, schema_editor):
    OrderLine = apps.get_model("lms", "OrderLine")
    lines = OrderLine.objects.using(schema_editor.connection.alias)
    lines.filter(status__in=UNENROLL).update(action="unenroll")
    for line in lines.filter(status__in=MOVING).only("pk", "claim_token", "attempts"):
        token = line.claim_token
        status = "running" if token.endswith(":run") else ("retry" if line.attempts else "pending")
        lines.filter(pk=line.pk).update(status=status, claim_token=token.split(":", 1)[0])
    lines.filter(status__in=("fulfilled", "refunded")).update(status="done", claim_token="")
    lines.filter(status="done", action="enroll").update(finished_at=models.F("fulfilled_at"))
    lines.filter(status="done", action="unenroll").update(finished_at=models.F("refunded_at"))
    lines.filter(status__in=("failed", "refund_failed")).update(
        status="failed", claim_token="", finished_at=models.F("updated_at")
    )


def to_old_lines(apps, schema_editor):
    OrderLine = apps.get_model("lms", "OrderLine")
    lines = OrderLine.objects.using(schema_editor.connection.alias)
    for (action, status), old in OLD.items():
        lines.filter(action=action, status=status).update(status=old)
    for line in lines.filter(status__in=("pending", "running", "retry")).only("pk", "action", "status", "claim_token"):
        suffix = ":0:run" if line.status == "running" else ":0"
        old = "pending" if line.action == "enroll" else "refund_pending"
        lines.filter(pk=line.pk).update(status=old, claim_token=f"{line.claim_token}{suffix}" if line.claim_token else "")


class Migration(migrations.Migration):
    dependencies = [("lms", "0001_initial")]

    operations = [
        # --- Order ---
        migrations.AlterField(
            model_name="order", name="lms_user_id", field=models.PositiveBigIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="order",
            name="lms_username",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="order",
            name="refunded_amount",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(
                choices=[
                    ("fulfilling", "Fulfilling"),
                    ("fulfilled", "Fulfilled"),
                    ("failed", "Failed"),
                    ("partially_refunded", "Partially refunded"),
                    ("refunded", "Refunded"),
                ],
                db_index=True,
                default="fulfilling",
                max_length=20,
            ),
        ),
        # --- OrderLine: the old fields under core's names, then the new ones, then the data ---
        migrations.RenameField(model_name="orderline", old_name="task_token", new_name="claim_token"),
        migrations.RenameField(model_name="orderline", old_name="last_attempt_at", new_name="claimed_at"),
        migrations.RenameField(model_name="orderline", old_name="last_trace_id", new_name="trace_id"),
        migrations.RenameField(model_name="orderline", old_name="created", new_name="created_at"),
        migrations.RenameField(model_name="orderline", old_name="modified", new_name="updated_at"),
        migrations.AlterField(
            model_name="orderline",
            name="claim_token",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The id of the task run that holds, or may take, the item.",
                max_length=64,
            ),
        ),
        migrations.AlterField(
            model_name="orderline",
            name="trace_id",
            field=models.CharField(blank=True, db_index=True, default="", max_length=32),
        ),
        migrations.AlterField(
            model_name="orderline",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="orderline",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="orderline",
            name="action",
            field=models.CharField(
                choices=[("enroll", "Enroll"), ("unenroll", "Unenroll")], default="enroll", max_length=16
            ),
        ),
        migrations.AddField(model_name="orderline", name="finished_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(to_work_items, to_old_lines),
        migrations.AlterField(
            model_name="orderline",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("running", "Running"),
                    ("retry", "Waiting for a retry"),
                    ("done", "Done"),
                    ("failed", "Failed (dead letter)"),
                ],
                db_index=True,
                default="pending",
                max_length=16,
            ),
        ),
    ]
