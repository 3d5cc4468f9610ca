"""manage.py provision_demo_subscriptions: the demo plans (`demo-monthly`, ...). Idempotent (CC_DEMO_DATA_COMMANDS)."""

from decimal import Decimal

from django.core.management.base import BaseCommand

from ...models import Plan

DEMO_PLANS = [
    {"code": "demo-monthly", "name": "Demo monthly", "price": Decimal("9.90"), "currency": "USD", "period_months": 1},
    {"code": "demo-yearly-trial", "name": "Demo yearly with a 14-day trial", "price": Decimal("99.00"),
     "currency": "USD", "period_months": 12, "trial_days": 14},
]  # fmt: skip


class Command(BaseCommand):
    help = "Create the demo subscription plans when missing (never changes a plan a manager edited)."

    def handle(self, *args, **options):
        made = [plan["code"] for plan in DEMO_PLANS if Plan.objects.get_or_create(code=plan["code"], defaults=plan)[1]]
        if made:
            self.stdout.write(f"Created demo plan(s): {', '.join(made)}")
            return f"plans: {', '.join(made)}"
        self.stdout.write("Demo plans already present.")
        return ""
