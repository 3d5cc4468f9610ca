"""Orders and their lines: what was bought, and how far each line's enrollment (or unenrollment) got.

Idempotency rests on the unique constraints here, never on a cache: one Order per
order number, one OrderLine per (order, course run); both compare case-sensitively
(a binary collation on MariaDB, migration 0003). An OrderLine is one of core's durable
work items (docs/durable-work.md): its `action` says which LMS call it makes, its work
status how far that call got, and `state` what operators read from the two.
"""

from django.db import connections, models, router, transaction
from django.utils import timezone

from commerce_coordinator.apps.core import durable, hotsql

from .signals import fulfillment_completed, fulfillment_failed

SENDER = "commerce_coordinator.apps.lms"
Work = durable.WorkStatus


class Order(models.Model):
    class Status(models.TextChoices):
        FULFILLING = "fulfilling", "Fulfilling"  # some line is still pending
        FULFILLED = "fulfilled", "Fulfilled"  # every line enrolled
        FAILED = "failed", "Failed"  # no line pending, at least one failed (dead letter)
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"  # some money or some runs refunded
        REFUNDED = "refunded", "Refunded"  # refunded in full: its lines are (being) unenrolled

    class Source(models.TextChoices):
        PAYMENT = "payment", "Payment"
        API = "api", "Fulfillment API"

    order_number = models.CharField(max_length=128, unique=True)
    lms_user_id = models.PositiveBigIntegerField(null=True, blank=True)
    # The LMS username (or e-mail, for CloudPayments' AccountId) the enrollment calls name when given.
    lms_username = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FULFILLING, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PAYMENT)
    provider = models.CharField(max_length=64, blank=True, default="")
    payment_id = models.CharField(max_length=255, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
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

    @property
    def lms_user(self) -> str:
        """Whom the LMS enrollment call names: the username when known, else the user id."""
        return self.lms_username or ("" if self.lms_user_id is None else str(self.lms_user_id))

    def add_trace_id(self, trace_id):
        if trace_id and trace_id not in self.trace_ids:
            self.trace_ids = [*self.trace_ids, trace_id]
            return True
        return False

    def settle(self) -> bool:
        """Recompute the status from the lines, under the order's row lock; True on the move to fulfilled
        (which therefore happens once). A refunded order keeps its status."""
        with transaction.atomic():
            return self.settle_locked(self.lock())

    def lock(self) -> str:
        """Take this order's row lock (inside the caller's transaction; the order before its lines, as
        everywhere) and return its status as stored."""
        [(status,)] = hotsql.rows(Order, ("status",), "{pk} = %s", [self.pk], for_update=True)
        return status

    def lock_with_lines(self) -> tuple[str, list]:
        """The statement (SQL, params) that takes lock() and reads the order's lines (MariaDB/MySQL): the order's
        row is read, and locked, first (STRAIGHT_JOIN), then its lines'. Its rows: `locked_lines`."""
        order, line = Order._meta.db_table, OrderLine._meta.db_table
        sql = (
            f"SELECT STRAIGHT_JOIN o.status, l.id, l.course_run_key, l.action, l.status FROM {order} o "
            f"LEFT JOIN {line} l ON l.order_id = o.id WHERE o.id = %s ORDER BY l.id FOR UPDATE"
        )
        return sql, [self.pk]

    @staticmethod
    def locked_lines(rows) -> tuple[str, list[tuple]]:
        """The rows of lock_with_lines(): the order's stored status and its lines (id, course_run_key, action,
        status) in id order."""
        return rows[0][0], [row[1:] for row in rows if row[1] is not None]

    def settle_locked(self, stored_status: str, lines: list[tuple] | None = None) -> bool:
        """settle() for a caller that holds the order's lock (see lock()) in its open transaction; `lines`:
        (course_run_key, action, status) of each, in id order, read under that lock (else read here)."""
        if stored_status in (Order.Status.REFUNDED, Order.Status.PARTIALLY_REFUNDED):
            return False
        if lines is None:
            lines = hotsql.rows(
                OrderLine, ("course_run_key", "action", "status"), "{order} = %s ORDER BY {pk}", [self.pk]
            )
        states = {OrderLine.state_of(action, status) for _, action, status in lines}
        if OrderLine.State.PENDING in states:
            new = Order.Status.FULFILLING
        elif states <= {OrderLine.State.FULFILLED}:
            new = Order.Status.FULFILLED
        else:
            new = Order.Status.FAILED
        self.course_run_keys = [key for key, _, _ in lines]  # for send_completed, read under the lock
        if new == stored_status:
            return False
        now = timezone.now()
        fields = {"status": new, "modified": now}
        if new == Order.Status.FULFILLED:
            fields["fulfilled_at"] = now
        hotsql.update(Order, fields, "{pk} = %s", [self.pk])
        for name, value in fields.items():
            setattr(self, name, value)
        return new == Order.Status.FULFILLED

    def send_completed(self) -> None:
        keys = getattr(self, "course_run_keys", None)
        fulfillment_completed.send(
            SENDER,
            order_number=self.order_number,
            lms_user_id=self.lms_user_id,
            course_run_keys=keys if keys is not None else list(self.lines.values_list("course_run_key", flat=True)),
        )


class OrderLineManager(models.Manager):
    """Lines come with their order: a run's claim, its spans' keys and its LMS call all need it (one query)."""

    def get_queryset(self):
        return super().get_queryset().select_related("order")


class OrderLine(durable.DurableWorkItem):
    """One course run of an order: a durable work item whose work is one LMS enrollment call."""

    class Action(models.TextChoices):
        ENROLL = "enroll", "Enroll"
        UNENROLL = "unenroll", "Unenroll"

    class State(models.TextChoices):
        """What operators see of a line (the order API and the admin): action and work status together."""

        PENDING = "pending", "Enrollment pending"
        FULFILLED = "fulfilled", "Enrolled"
        FAILED = "failed", "Enrollment failed"
        REFUND_PENDING = "refund_pending", "Unenrollment pending"
        REFUNDED = "refunded", "Unenrolled"
        REFUND_FAILED = "refund_failed", "Unenrollment failed"

    # (action, work status) -> state; pending, running and retry all read as "pending".
    STATES = {
        Action.ENROLL: {Work.DONE: State.FULFILLED, Work.FAILED: State.FAILED},
        Action.UNENROLL: {Work.DONE: State.REFUNDED, Work.FAILED: State.REFUND_FAILED},
    }
    MOVING_STATE = {Action.ENROLL: State.PENDING, Action.UNENROLL: State.REFUND_PENDING}

    # What operators see of a line, in the order API and the admin alike.
    OPERATOR_FIELDS = (
        "course_run_key",
        "mode",
        "state",
        "action",
        "status",
        "attempts",
        "last_error",
        "last_status_code",
        "claimed_at",
        "next_attempt_at",
        "fulfilled_at",
        "refunded_at",
        "trace_id",
    )

    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    course_run_key = models.CharField(max_length=255)
    mode = models.CharField(max_length=64, default="verified")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.ENROLL)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    objects = OrderLineManager()

    retry_schedule_setting = "LMS_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.lms.tasks.process_line"
    batch_task_path = "commerce_coordinator.apps.lms.tasks.process_lines"  # an order's lines in one message

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order", "course_run_key"], name="lms_orderline_unique_run")]

    def __str__(self):
        return f"{self.order.order_number}: {self.course_run_key} ({self.state})"

    @property
    def state(self) -> str:
        return self.state_of(self.action, self.status)

    @classmethod
    def state_of(cls, action: str, status: str) -> str:
        return cls.STATES[action].get(status, cls.MOVING_STATE[action])

    def key_values(self) -> dict:
        keys = {"order_number": self.order.order_number}
        if self.order.lms_user_id is not None:
            keys["lms_user_id"] = self.order.lms_user_id
        return keys

    def work_label(self) -> str:
        return f"lms.{self.action} {self.course_run_key}"

    def finish(self, **fields) -> bool:
        """Done, stamped with when the enrollment (or unenrollment) took effect, no error left to show, and
        its order settled in the same transaction: the order's lock first (as everywhere), then the line.
        `order_fulfilled` then says whether this finish moved the order to fulfilled (at most one does)."""
        fields.setdefault("last_error", "")
        fields.setdefault("last_status_code", None)
        fields.setdefault("fulfilled_at" if self.action == self.Action.ENROLL else "refunded_at", timezone.now())
        lines = None
        with transaction.atomic():
            connection = connections[router.db_for_write(Order)]
            if connection.vendor == "mysql":  # the order's lock, its lines and this finish in one round trip
                done, rows = super().finish_after_reading(self.order.lock_with_lines(), **fields)
                stored_status, locked = Order.locked_lines(rows)
                lines = [(key, action, self.status if pk == self.pk else status) for pk, key, action, status in locked]
            elif connection.features.has_select_for_update:
                stored_status = self.order.lock()
                done = super().finish(**fields)
            else:  # SQLite: one writer at a time; writing first takes that lock (a reader could not upgrade)
                done = super().finish(**fields)
                stored_status = self.order.lock()
            self.order_fulfilled = self.order.settle_locked(stored_status, lines) if done else False
        return done

    def on_dead_letter(self, reason: str) -> None:
        """The line gave up: settle its order and tell the routed receivers (fulfillment_failed)."""
        order = self.order
        order.settle()
        fulfillment_failed.send(
            SENDER,
            order_number=order.order_number,
            lms_user_id=order.lms_user_id,
            course_run_key=self.course_run_key,
            action=str(self.action),
            attempts=self.attempts,
            error=reason,
        )
