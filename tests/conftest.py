"""Fixtures for the cross-app tests: the LMS fake, invoicing's clock, contracts' test backends, and one billing
clock moving invoicing's and subscriptions' clocks together (the demo gateway, `gateway`, is the root conftest's)."""

import datetime as _dt

import pytest

from commerce_coordinator.apps.contracts.tests.conftest import backends  # noqa: F401
from commerce_coordinator.apps.invoicing import clock as _invoicing_clock
from commerce_coordinator.apps.invoicing.tests.conftest import _clock  # noqa: F401
from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401
from commerce_coordinator.apps.subscriptions import clock as _subscriptions_clock


class BillingClock:
    """Invoicing's and subscriptions' clocks moved together (each app keeps its own movable clock)."""

    clocks = (_invoicing_clock, _subscriptions_clock)

    def set(self, moment: _dt.datetime) -> None:
        for clock in self.clocks:
            clock.reset()
            clock.move(seconds=(moment - clock.now()).total_seconds())

    def move(self, **delta) -> None:
        for clock in self.clocks:
            clock.move(**delta)

    def today(self) -> _dt.date:
        return _subscriptions_clock.today()


@pytest.fixture
def billing_clock():
    clock = BillingClock()
    clock.set(_dt.datetime(2026, 12, 2, 12, tzinfo=_dt.UTC))
    yield clock
    for each in clock.clocks:
        each.reset()
