"""Fixtures of the subscriptions tests: a clean clock, a plan, subscriptions in any status."""

import datetime as dt
from decimal import Decimal

import pytest

from commerce_coordinator.apps.subscriptions import clock
from commerce_coordinator.apps.subscriptions.models import Plan, Subscription


@pytest.fixture(autouse=True)
def _clock():
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def plan():
    return Plan.objects.create(code="monthly", name="Monthly", price=Decimal("9.90"), currency="USD")


@pytest.fixture
def make_subscription(plan):
    def make(status="active", account_id=1, **fields):
        start = dt.date(2026, 12, 1)
        values = {"current_period_start": start, "current_period_end": dt.date(2026, 12, 31),
                  "renews_on": dt.date(2027, 1, 1), **fields}  # fmt: skip
        return Subscription.objects.create(account_id=account_id, plan=plan, status=status, **values)

    return make
