"""Plans (set by managers in the admin), subscriptions with their event chain, and the once-only ledgers.

Exactly-once rests on unique constraints: one Renewal per (subscription, period), one ReminderSent per
(subscription, period, days before), one SubscriptionEvent per (subscription, seq), one ApiWrite per
Idempotency-Key. A subscription's status changes only through `subscriptions.states.transition`.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from commerce_coordinator.apps.core.models import AppendOnly


class Plan(models.Model):
    """What a customer subscribes to: a price per period (1, 3 or 12 months), optionally a free trial."""

    class Period(models.IntegerChoices):
        MONTH = 1, "Monthly"
        QUARTER = 3, "Quarterly"
        YEAR = 12, "Yearly"

    code = models.SlugField(max_length=64, unique=True, help_text="What clients name: demo-monthly.")
    name = models.CharField(max_length=255)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(max_length=3, default="USD")
    period_months = models.PositiveSmallIntegerField(choices=Period.choices, default=Period.MONTH)
    trial_days = models.PositiveSmallIntegerField(
        default=0, help_text="Free days first; the trial runs on to the end of the billing month it ends in."
    )
    active = models.BooleanField(default=True, help_text="A retired plan takes no new subscribers and is not renewed.")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} ({self.price} {self.currency} / {self.get_period_months_display().lower()})"

    def as_data(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "price": str(self.price),
            "currency": self.currency,
            "period_months": self.period_months,
        }


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending (first payment)"
    INCOMPLETE = "incomplete", "Incomplete (first payment failed)"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due (a renewal charge failed)"
    SUSPENDED = "suspended", "Suspended (dunning)"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"


class Subscription(models.Model):
    Status = SubscriptionStatus

    account_id = models.PositiveBigIntegerField(db_index=True, help_text="The invoicing account billed.")
    plan = models.ForeignKey(Plan, related_name="subscriptions", on_delete=models.PROTECT)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, default="pending", db_index=True)
    version = models.PositiveIntegerField(default=1, help_text="Seq of the last event; every transition adds one.")
    current_period_start = models.DateField()
    current_period_end = models.DateField()
    renews_on = models.DateField(null=True, blank=True, help_text="The next period's first day (none: not renewed).")
    trial_ends_on = models.DateField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    provider_subscription_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, help_text="The provider's recurrent id (CloudPayments)."
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "renews_on"])]

    def __str__(self):
        return f"subscription {self.pk} ({self.plan.code}, account {self.account_id}, {self.status})"

    def as_data(self) -> dict:
        """The plain `subscription` argument of the subscription signals."""
        return {
            "id": self.pk,
            "account_id": self.account_id,
            "plan": self.plan.code,
            "status": self.status,
            "current_period_start": self.current_period_start.isoformat(),
            "current_period_end": self.current_period_end.isoformat(),
            "cancel_at_period_end": self.cancel_at_period_end,
        }


class SubscriptionEvent(AppendOnly):
    """One step of a subscription's chain: from, to, why, who, in which trace."""

    subscription = models.ForeignKey(Subscription, related_name="events", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField()
    action = models.CharField(max_length=32)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=150, blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subscription_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["subscription", "seq"], name="subscriptions_event_chain_seq")]

    def __str__(self):
        return f"{self.subscription_id}#{self.seq} {self.from_status}->{self.to_status} ({self.action})"


class Renewal(models.Model):
    """Ledger: a subscription's period was handled (billed, deferred, or ended at its boundary) once."""

    class Outcome(models.TextChoices):
        BILLED = "billed", "Billed on the account's invoice"
        DEFERRED = "deferred", "Free (the month's invoice was out): billed from the next period"
        CANCELED = "canceled", "Canceled at period end"
        EXPIRED = "expired", "Expired (plan retired)"

    class Payment(models.TextChoices):
        NONE = "", "Awaiting"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(Subscription, related_name="renewals", on_delete=models.CASCADE)
    period_start = models.DateField()
    account_id = models.PositiveBigIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.BILLED)
    payment = models.CharField(max_length=8, choices=Payment.choices, blank=True, default="")
    invoice_number = models.CharField(max_length=32, blank=True, default="")
    run_token = models.CharField(max_length=32, help_text="The sweep run that wrote it (and so did the work).")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subscription_id", "period_start"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="subscriptions_renew_once")
        ]
        indexes = [models.Index(fields=["run_token"]), models.Index(fields=["account_id", "period_start"])]

    def __str__(self):
        return f"{self.subscription_id} {self.period_start:%Y-%m} {self.outcome} {self.payment}"


class ReminderSent(models.Model):
    """Ledger: renewal_reminder_due was sent (or skipped for a nearer one) once per subscription, period, N."""

    subscription = models.ForeignKey(Subscription, related_name="reminders", on_delete=models.CASCADE)
    period_start = models.DateField(help_text="The renewal's period (renews_on).")
    days_before = models.PositiveSmallIntegerField()
    skipped = models.BooleanField(default=False, help_text="A late run sent only the nearest reminder.")
    run_token = models.CharField(max_length=32)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start", "days_before"], name="subscriptions_remind_once"
            )
        ]
        indexes = [models.Index(fields=["run_token"])]

    def __str__(self):
        return f"{self.subscription_id} {self.period_start:%Y-%m} -{self.days_before}d"


class ProviderMismatch(models.Model):
    """A provider's recurrent notification this service could not reconcile: for an operator to look at."""

    provider = models.CharField(max_length=32)
    provider_subscription_id = models.CharField(max_length=64)
    provider_status = models.CharField(max_length=32)
    subscription = models.ForeignKey(Subscription, null=True, blank=True, on_delete=models.SET_NULL)
    local_status = models.CharField(max_length=20, blank=True, default="")
    reason = models.TextField()
    resolved = models.BooleanField(default=False)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.provider} {self.provider_subscription_id}: {self.reason[:60]}"


class ApiWrite(models.Model):
    """The answer to a subscriptions API write, kept under its Idempotency-Key (invoicing's approach)."""

    idempotency_key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    actor = models.CharField(max_length=150, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key", "method", "path"], name="subscriptions_api_write_once")
        ]

    def __str__(self):
        return f"{self.method} {self.path} [{self.idempotency_key}]"
