"""What the demo gateway remembers: each charge and refund by its idempotency key, so a repeat gets the same answer."""

from django.db import models


class DemoAnswer(models.Model):
    """Abstract: an answer the gateway gave, kept under the request's idempotency key."""

    provider = models.CharField(max_length=16)  # stripe, cloudpayments
    idempotency_key = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    calls = models.PositiveIntegerField(default=1, help_text="Requests with this key (repeats answered from here).")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-id"]


class DemoCharge(DemoAnswer):
    token = models.CharField(max_length=255)
    amount = models.BigIntegerField(help_text="In minor units (Stripe) or kopecks/cents (CloudPayments x 100).")
    currency = models.CharField(max_length=8)

    class Meta(DemoAnswer.Meta):
        constraints = [
            models.UniqueConstraint(fields=["provider", "idempotency_key"], name="demo_gateway_charge_key_unique")
        ]

    def __str__(self):
        return f"{self.provider} {self.idempotency_key} -> {self.status_code}"


class DemoRefund(DemoAnswer):
    """A refund the demo gateway answered, by its idempotency key (a succeeded one counts against its payment)."""

    payment_id = models.CharField(max_length=255, help_text="The PaymentIntent id or TransactionId refunded.")
    amount = models.BigIntegerField(help_text="In minor units (as DemoCharge).")
    succeeded = models.BooleanField(default=False)

    class Meta(DemoAnswer.Meta):
        constraints = [
            models.UniqueConstraint(fields=["provider", "idempotency_key"], name="demo_gateway_refund_key_unique")
        ]

    def __str__(self):
        return f"{self.provider} refund {self.idempotency_key} -> {self.status_code}"
