"""Accounts, their periodic products, invoices with lines, and each invoice's append-only event chain.

Exactly-once rests on database constraints, never on a pre-check: one Invoice per (account, period),
one InvoiceLine per (invoice, product, kind), one InvoiceEvent per (invoice, seq), one InvoiceCharge
per idempotency key, one ProductPeriodMark per (product, period, kind), one Notice per cause. An
invoice's state changes only through `invoicing.states.transition` (docs/invoicing.md).
"""

from decimal import Decimal

from django.db import models
from django.utils import timezone

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import AppendOnly


class Account(models.Model):
    """The billable party: an LMS user, where to write to, and the saved payment method (or none)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    lms_user_id = models.PositiveBigIntegerField(db_index=True)
    email = models.EmailField(blank=True, default="")
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    payment_provider = models.CharField(max_length=32, blank=True, default="", help_text="stripe, cloudpayments")
    payment_token = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The provider's saved method (Stripe PaymentMethod, CP token).",
    )
    # Dunning: the overdue level the account is in ("" when in good standing) and since when.
    dunning_level = models.CharField(max_length=32, blank=True, default="")
    dunning_since = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"Account {self.pk} (LMS user {self.lms_user_id})"

    @property
    def has_payment_method(self) -> bool:
        return bool(self.payment_provider and self.payment_token)

    def owner_data(self) -> dict:
        """The plain `owner` argument of the invoicing signals."""
        return {"account_id": self.pk, "lms_user_id": self.lms_user_id, "email": self.email}

    def as_data(self) -> dict:
        """The plain `account` argument of account_overdue / account_cleared."""
        return {**self.owner_data(), "currency": self.currency, "dunning_level": self.dunning_level}


class Product(models.Model):
    """A periodic product on an account: billed each period, with a usage quota and a capacity in steps."""

    class Period(models.IntegerChoices):
        MONTH = 1, "Monthly"
        QUARTER = 3, "Quarterly"
        YEAR = 12, "Yearly"

    account = models.ForeignKey(Account, related_name="products", on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    period_months = models.PositiveSmallIntegerField(choices=Period.choices, default=Period.MONTH)
    starts_on = models.DateField(help_text="First period billed; the product is billed every period_months after.")
    active = models.BooleanField(default=True)
    # Usage quota, restored each period by restore_products.
    quota = models.PositiveIntegerField(default=0, help_text="Units the period allows.")
    used = models.PositiveIntegerField(default=0, help_text="Units used this period.")
    # Capacity: initial steps plus extra steps bought during the period (billed next invoice, then reset).
    initial_steps = models.PositiveIntegerField(default=0)
    extra_steps = models.PositiveIntegerField(default=0)
    step_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.name} ({self.account_id})"

    @property
    def capacity(self) -> int:
        return self.initial_steps + self.extra_steps

    def billed_in(self, period_start) -> bool:
        months = (period_start.year - self.starts_on.year) * 12 + period_start.month - self.starts_on.month
        return self.active and months >= 0 and months % self.period_months == 0


class ProductPeriodMark(models.Model):
    """Ledger: a product's quota was restored / capacity reset for a period (a second run is a no-op)."""

    class Kind(models.TextChoices):
        RESTORE = "restore", "Quota restored"
        RESET = "reset", "Capacity reset"

    product = models.ForeignKey(Product, related_name="period_marks", on_delete=models.CASCADE)
    period_start = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    run_token = models.CharField(max_length=32, help_text="The run that wrote the mark (and so did the work).")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "period_start", "kind"], name="invoicing_mark_once_per_period")
        ]

    def __str__(self):
        return f"{self.product_id} {self.kind} {self.period_start:%Y-%m}"


class InvoiceState(models.TextChoices):
    DRAFT = "draft", "Draft"
    ERROR = "error", "Error"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"
    VOID = "void", "Void"
    DELETED = "deleted", "Deleted"


class Invoice(models.Model):
    State = InvoiceState
    UNPAID = (InvoiceState.OPEN, InvoiceState.UNCOLLECTIBLE)

    account = models.ForeignKey(Account, related_name="invoices", on_delete=models.PROTECT)
    period_start = models.DateField()
    period_end = models.DateField()
    number = models.CharField(max_length=32, unique=True, null=True, blank=True, help_text="Assigned at finalize.")
    state = models.CharField(max_length=16, choices=InvoiceState.choices, default=InvoiceState.DRAFT, db_index=True)
    version = models.PositiveIntegerField(default=1, help_text="Seq of the last event; every transition adds one.")
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_refunded = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), help_text="Refunds the provider confirmed (ADR 63)."
    )
    due_date = models.DateField(null=True, blank=True)
    payment_overdue = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0, help_text="Charge attempts requested so far.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    charge_in_flight = models.BooleanField(default=False, help_text="An attempt was requested and is unanswered.")
    last_error = models.TextField(blank=True, default="")
    created_run = models.CharField(max_length=32, blank=True, default="", help_text="The run that inserted it.")
    created = models.DateTimeField(default=timezone.now)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period_start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period_start"], name="invoicing_one_invoice_per_period")
        ]
        # No index on created_run: a run finds its rows through the unique (account, period) instead
        # (an index on the token alone made each page scan every row the run had inserted so far).
        indexes = [models.Index(fields=["period_start", "state"])]

    def __str__(self):
        return self.number or f"draft {self.pk} ({self.account_id}, {self.period_start:%Y-%m})"

    @property
    def period_label(self) -> str:
        return f"{self.period_start:%Y-%m}"

    def idempotency_key(self, attempt: int) -> str:
        return f"inv-{self.pk}-a{attempt}"

    def as_data(self) -> dict:
        """The plain `invoice` argument of the invoicing signals."""
        return {
            "number": self.number or "",
            "account_id": self.account_id,
            "period": self.period_label,
            "total": str(self.total),
            "currency": self.currency,
            "status": self.state,
        }


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        BASE = "base", "Period price"
        EXTRA = "extra", "Extra steps"

    invoice = models.ForeignKey(Invoice, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BASE)
    description = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "product", "kind"], name="invoicing_line_once_per_product")
        ]

    def __str__(self):
        return f"{self.description}: {self.amount}"


class InvoiceEvent(AppendOnly):
    """One step of an invoice's chain: from state, to state, why, who, in which trace."""

    invoice = models.ForeignKey(Invoice, related_name="events", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField()
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16)
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=150, blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["invoice_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["invoice", "seq"], name="invoicing_event_chain_seq")]

    def __str__(self):
        return f"{self.invoice_id}#{self.seq} {self.from_state}->{self.to_state} ({self.action})"


class InvoiceCharge(models.Model):
    """One charge attempt of an invoice as invoicing sees it: requested, then the provider's answer."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, related_name="charges", on_delete=models.CASCADE)
    attempt = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=32, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # The answer, in the seed's charge fields.
    result = models.CharField(max_length=32, blank=True, default="", help_text="succeeded, declined, error")
    provider_status = models.CharField(max_length=64, blank=True, default="")
    response_code = models.CharField(max_length=64, blank=True, default="")
    response_text = models.CharField(max_length=255, blank=True, default="")
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    decline = models.CharField(max_length=8, blank=True, default="", help_text="soft, hard or '' (not a decline)")
    charge_id = models.CharField(max_length=255, blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice_id", "attempt"]
        constraints = [models.UniqueConstraint(fields=["invoice", "attempt"], name="invoicing_one_charge_per_attempt")]

    def __str__(self):
        return f"{self.idempotency_key} ({self.status})"

    def as_data(self) -> dict:
        """The plain `charge` argument of credit_card_error (the seed's charge fields)."""
        return {
            "idempotency_key": self.idempotency_key,
            "amount": str(self.amount),
            "result": self.result,
            "status": self.provider_status,
            "response_code": self.response_code,
            "response_text": self.response_text,
            "reject_reason": self.reject_reason,
            "message": self.message,
        }


class InvoiceRefund(models.Model):
    """One refund of a paid invoice as invoicing sees it: requested (the amount reserved), then the provider's
    answer. Unique per idempotency key `inv-<id>-r<n>`, which payments gives the provider (ADR 63)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, related_name="refunds", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField(help_text="The invoice's n-th refund.")
    idempotency_key = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=32)
    payment_id = models.CharField(max_length=255, help_text="The provider's id of the payment refunded.")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.TextField()
    actor = models.CharField(max_length=150, help_text="Who asked: bus:<message id>, api:<user>, operator:<name>.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    refund_id = models.CharField(max_length=255, blank=True, default="", help_text="The provider's refund id.")
    provider_status = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="", help_text="Why it failed (the provider's words).")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["invoice", "seq"], name="invoicing_one_refund_per_seq")]

    def __str__(self):
        return f"{self.idempotency_key} {self.amount} {self.currency} ({self.status})"


class BillingRun(models.Model):
    """One run of a billing command: counters, per-account errors, and whether it finished."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        INTERRUPTED = "interrupted", "Interrupted (resumed by a later run)"

    command = models.CharField(max_length=32, db_index=True)
    period_start = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    dry_run = models.BooleanField(default=False)
    options = models.JSONField(default=dict, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=dict, blank=True, help_text="account id -> what went wrong")
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    pid = models.PositiveIntegerField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.command} {self.period_start or ''} ({self.status})"


class ApiWrite(models.Model):
    """The answer to a billing API write, kept under its Idempotency-Key: a repeat gets the same answer."""

    idempotency_key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    actor = models.CharField(max_length=150, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key", "method", "path"], name="invoicing_api_write_once")
        ]

    def __str__(self):
        return f"{self.method} {self.path} [{self.idempotency_key}]"


class Notice(durable.DurableWorkItem):
    """An outbox row: one signal invoicing owes (or one dunning evaluation), stored in the transaction of
    the transition that causes it, unique per cause, so it is sent once per transition even when the
    process dies after the commit (notify.py: flushed in process on commit; lost ones the core sweep finds)."""

    class Kind(models.TextChoices):
        INVOICE_SENT = "invoice_sent", "invoice_sent"
        CREDIT_CARD_ERROR = "credit_card_error", "credit_card_error"
        ACCOUNT_OVERDUE = "account_overdue", "account_overdue"
        ACCOUNT_CLEARED = "account_cleared", "account_cleared"
        EVALUATE_DUNNING = "evaluate_dunning", "dunning evaluation"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    cause = models.CharField(max_length=190, unique=True, help_text="The transition that owes it (once per cause).")
    account = models.ForeignKey(Account, related_name="notices", on_delete=models.CASCADE)
    invoice_number = models.CharField(max_length=32, blank=True, default="", db_index=True)
    arguments = models.JSONField(default=dict, blank=True, help_text="The signal's declared arguments (plain data).")

    retry_schedule_setting = "INVOICING_NOTICE_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.invoicing.tasks.send_notice"

    class Meta:
        ordering = ["-id"]
        # flush() claims its notices by token: without this index the UPDATE scanned (and locked) every
        # pending notice, and two workers' flushes deadlocked (bench/invoicing end to end, MariaDB 1213).
        indexes = [models.Index(fields=["claim_token"], name="invoicing_notice_claim_token")]

    def __str__(self):
        return f"{self.kind} {self.cause} ({self.status})"

    def key_values(self) -> dict:
        keys = {"invoice_number": self.invoice_number, "account_id": self.account_id}
        return {key: value for key, value in keys.items() if value}

    def work_label(self) -> str:
        return f"invoicing.{self.kind}"
