"""Stored signal traces. Rows are written by `tracing.write_nodes` in one INSERT, and read here."""

from django.db import models


class TraceNode(models.Model):
    """One hop of a trace: a send, a receiver call, a task run in a worker, or a failed publish."""

    KIND_CHOICES = [("send", "send"), ("receiver", "receiver"), ("task", "task run"), ("publish", "publish")]

    id = models.CharField(primary_key=True, max_length=32)
    trace_id = models.CharField(max_length=32, db_index=True)
    parent_id = models.CharField(max_length=32, null=True, blank=True, db_index=True)  # noqa: DJ001  (NULL: a root)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    name = models.CharField(max_length=255, db_index=True, help_text="Signal or receiver dotted path, or task name.")
    sender = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField(default=0.0)
    result = models.TextField(blank=True)
    error_type = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["started_at"]
        indexes = [models.Index(fields=["trace_id", "started_at"])]

    def __str__(self):
        return f"{self.kind} {self.name} [{self.status}]"


class TraceQuerySet(models.QuerySet):
    def with_status(self):
        """Annotate each top-level send with its trace's status: error if any node of the trace failed."""
        failed = TraceNode.objects.filter(trace_id=models.OuterRef("trace_id"), status="error")
        return self.annotate(has_error=models.Exists(failed))


class TraceManager(models.Manager.from_queryset(TraceQuerySet)):
    def get_queryset(self):
        return super().get_queryset().filter(parent_id__isnull=True)


class Trace(TraceNode):
    """A top-level send: the root of a trace tree (a proxy over TraceNode, for the admin)."""

    objects = TraceManager()

    class Meta:
        proxy = True
        ordering = ["-started_at"]
