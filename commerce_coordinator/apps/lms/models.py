"""Orders and their lines: what was bought, and how far each line's enrollment (or unenrollment) got.

Idempotency rests on the unique constraints here, never on a cache: one Order per
order number, one OrderLine per (order, course run).
"""

from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        FULFILLING = "fulfilling", "Fulfilling"  # some line is still pending
        FULFILLED = "fulfilled", "Fulfilled"  # every line enrolled
        FAILED = "failed", "Failed"  # no line pending, at least one failed (dead letter)
        REFUNDED = "refunded", "Refunded"  # refunded: its lines are (being) unenrolled

    class Source(models.TextChoices):
        PAYMENT = "payment", "Payment"
        API = "api", "Fulfillment API"

    order_number = models.CharField(max_length=128, unique=True)
    lms_user_id = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FULFILLING, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PAYMENT)
    provider = models.CharField(max_length=64, blank=True, default="")
    payment_id = models.CharField(max_length=255, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=8, blank=True, default="")
    # Trace ids of every event that touched this order (payment, refund, operator retries).
    trace_ids = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Order {self.order_number} ({self.status})"

    def add_trace_id(self, trace_id):
        if trace_id and trace_id not in self.trace_ids:
            self.trace_ids = [*self.trace_ids, trace_id]
            return True
        return False


class OrderLine(models.Model):
    # What operators see of a line, in the order API and the admin alike.
    OPERATOR_FIELDS = (
        "course_run_key",
        "mode",
        "status",
        "attempts",
        "last_error",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
        "fulfilled_at",
        "refunded_at",
        "last_trace_id",
    )

    class Status(models.TextChoices):
        PENDING = "pending", "Enrollment pending"
        FULFILLED = "fulfilled", "Enrolled"
        FAILED = "failed", "Enrollment failed"
        REFUND_PENDING = "refund_pending", "Unenrollment pending"
        REFUNDED = "refunded", "Unenrolled"
        REFUND_FAILED = "refund_failed", "Unenrollment failed"

    # Status -> the LMS call that a task makes for a line in it.
    ACTIONS = {Status.PENDING: "enroll", Status.REFUND_PENDING: "unenroll"}
    DONE = {Status.PENDING: Status.FULFILLED, Status.REFUND_PENDING: Status.REFUNDED}
    DEAD = {Status.PENDING: Status.FAILED, Status.REFUND_PENDING: Status.REFUND_FAILED}
    RETRYABLE = {Status.FAILED: Status.PENDING, Status.REFUND_FAILED: Status.REFUND_PENDING}

    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    course_run_key = models.CharField(max_length=255)
    mode = models.CharField(max_length=64, default="verified")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_trace_id = models.CharField(max_length=32, blank=True, default="")
    # "<celery task id>:<retry number>" of the one task run allowed to work on this line next; a run
    # whose id and retry number do not match (a duplicate delivery, a superseded retry) does nothing.
    task_token = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order", "course_run_key"], name="lms_orderline_unique_run")]

    def __str__(self):
        return f"{self.order.order_number}: {self.course_run_key} ({self.status})"

    @property
    def action(self):
        return self.ACTIONS.get(self.status)
