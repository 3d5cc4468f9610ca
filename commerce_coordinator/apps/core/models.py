"""Stored signal traces (written by `tracing.write_nodes` in one INSERT, read here) and the audit of
operator actions on durable work items (core.durable)."""

from django.db import models

from . import tracing


class TraceNode(models.Model):
    """One hop of a trace: a send, a receiver call, a task run in a worker, a span of work, a failed publish."""

    KIND_CHOICES = [(kind, kind) for kind in tracing.NODE_KINDS]

    id = models.CharField(primary_key=True, max_length=32)
    trace_id = models.CharField(max_length=32)  # indexed by (trace_id, started_at) below, which serves both
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
    subject = models.CharField(max_length=255, blank=True, default="", help_text="What a root's trace is about.")
    attempt = models.PositiveIntegerField(null=True, blank=True, help_text="The work item's attempt number.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a retry node's work runs again.")

    class Meta:
        ordering = ["started_at"]
        indexes = [models.Index(fields=["trace_id", "started_at"])]

    def __str__(self):
        return f"{self.kind} {self.name} [{self.status}]"


class TraceKey(models.Model):
    """A business key (order number, payment id, ...) that a node of a trace carried: what traces are found by."""

    trace_id = models.CharField(max_length=32)
    node_id = models.CharField(max_length=32, blank=True)
    key = models.CharField(max_length=32, choices=[(k, k) for k in tracing.BUSINESS_KEYS])
    value = models.CharField(max_length=255)

    class Meta:
        indexes = [
            models.Index(fields=["key", "value"], name="core_tracekey_lookup"),
            models.Index(fields=["trace_id"], name="core_tracekey_trace"),
        ]

    def __str__(self):
        return f"{self.key}={self.value} ({self.trace_id})"


class TraceQuerySet(models.QuerySet):
    def with_status(self):
        """Annotate each root with its trace's status: its worst node's (error, then retry, then the root's)."""
        nodes = TraceNode.objects.filter(trace_id=models.OuterRef("trace_id"))
        return self.annotate(
            has_error=models.Exists(nodes.filter(status=tracing.ERROR)),
            has_retry=models.Exists(nodes.filter(status=tracing.RETRY)),
        )

    def with_trace_status(self, status: str):
        """Only traces whose status (see with_status) is `status`."""
        if status == tracing.ERROR:
            return self.filter(has_error=True)
        if status == tracing.RETRY:
            return self.filter(has_error=False, has_retry=True)
        return self.filter(has_error=False, has_retry=False, status=status)

    def with_key(self, key: str, value: str):
        """Traces in which some node carried this business key."""
        return self.filter(trace_id__in=TraceKey.objects.filter(key=key, value=value).values("trace_id"))

    def that_sent(self, signal: str):
        """Traces in which this signal (a dotted path, or its last part) was sent."""
        sends = TraceNode.objects.filter(kind="send")
        sends = sends.filter(name=signal) if "." in signal else sends.filter(name__endswith=f".{signal}")
        return self.filter(trace_id__in=sends.values("trace_id"))


class TraceManager(models.Manager.from_queryset(TraceQuerySet)):
    def get_queryset(self):
        """One row per trace: its first root (a retried task run in a worker is a root of the same trace too)."""
        earlier_root = TraceNode.objects.filter(
            trace_id=models.OuterRef("trace_id"), parent_id__isnull=True, started_at__lt=models.OuterRef("started_at")
        )
        return super().get_queryset().filter(parent_id__isnull=True).exclude(models.Exists(earlier_root))


class Trace(TraceNode):
    """The root of a trace tree (a proxy over TraceNode, for the admin and the trace list)."""

    objects = TraceManager()

    class Meta:
        proxy = True
        ordering = ["-started_at"]

    @property
    def title(self) -> str:
        """What the trace is about: its subject (e.g. a webhook's event type), else its root's name."""
        return self.subject or self.name

    @property
    def trace_status(self) -> str:
        if getattr(self, "has_error", False):
            return tracing.ERROR
        if getattr(self, "has_retry", False):
            return tracing.RETRY
        return self.status


class AppendOnly(models.Model):
    """Abstract: a row that is written once and never changed or deleted (an event chain, an audit)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} rows are append-only")


class WorkAudit(models.Model):
    """What an operator did to a durable work item (retry, replay, void...): who, when, why, and its trace."""

    item_type = models.CharField(max_length=100, help_text="app_label.model of the item.")
    item_id = models.CharField(max_length=64)
    item_label = models.CharField(max_length=255, blank=True, help_text="How operators name the item.")
    action = models.CharField(max_length=64)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    outcome = models.TextField(blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["item_type", "item_id"], name="core_workaudit_item")]

    def __str__(self):
        return f"{self.action} {self.item_type}:{self.item_id} by {self.actor}"
