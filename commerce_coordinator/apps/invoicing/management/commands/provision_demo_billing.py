"""manage.py provision_demo_billing: demo accounts for LMS users 9001-9004, each with periodic products.

9001 has a card that succeeds, 9002 one with insufficient funds, 9003 a lost card (the demo gateway's
Stripe test cards), 9004 no saved method. Idempotent: a second run changes nothing and says so.
"""

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from commerce_coordinator.apps.invoicing import clock
from commerce_coordinator.apps.invoicing.models import Account, Product

DEMO_ACCOUNTS = [
    (9001, "stripe", "pm_card_visa", "a card that succeeds"),
    (9002, "stripe", "pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient funds (soft decline)"),
    (9003, "stripe", "pm_card_visa_chargeDeclinedLostCard", "a lost card (hard decline)"),
    (9004, "", "", "no saved payment method"),
]
DEMO_PRODUCTS = [
    # name, price, quota, initial steps, step price
    ("Messages plan", Decimal("29.00"), 1000, 1000, Decimal("0.05")),
    ("API calls", Decimal("9.00"), 10000, 10000, Decimal("0.001")),
]


class Command(BaseCommand):
    help = "Create the demo billing accounts (LMS users 9001-9004) and their products, if missing."

    def handle(self, *args, **options):
        made = []
        period = clock.period_of(clock.today())[0]
        with transaction.atomic():
            for lms_user_id, provider, token, what in DEMO_ACCOUNTS:
                if Account.objects.filter(lms_user_id=lms_user_id).exists():
                    continue
                account = Account.objects.create(
                    lms_user_id=lms_user_id,
                    email=f"learner{lms_user_id}@example.invalid",
                    payment_provider=provider,
                    payment_token=token,
                )
                for name, price, quota, steps, step_price in DEMO_PRODUCTS:
                    Product.objects.create(
                        account=account, name=name, price=price, starts_on=period, quota=quota,
                        initial_steps=steps, step_price=step_price, extra_steps=200 if name == "Messages plan" else 0,
                    )  # fmt: skip
                made.append(f"account {account.pk} for LMS user {lms_user_id} ({what})")
        if not made:
            self.stdout.write("demo billing accounts: already present")
            return ""
        for line in made:
            self.stdout.write(f"created {line}")
        return f"{len(made)} demo billing account(s)"
