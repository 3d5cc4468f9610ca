"""Invoicing and subscriptions read one clock (core.clock): moving either's moves both."""

import datetime as dt

from commerce_coordinator.apps.core import clock as core_clock
from commerce_coordinator.apps.invoicing import clock as invoicing_clock
from commerce_coordinator.apps.subscriptions import clock as subscriptions_clock


def test_invoicing_and_subscriptions_read_the_same_clock(billing_clock):
    assert billing_clock is core_clock
    invoicing_clock.move(days=30)
    assert subscriptions_clock.today() == invoicing_clock.today() == dt.date(2027, 1, 1)
    subscriptions_clock.set_to(dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC))
    assert invoicing_clock.period_of(invoicing_clock.today()) == (dt.date(2027, 3, 1), dt.date(2027, 3, 31))
    assert subscriptions_clock.period_from(subscriptions_clock.today(), 3) == (
        dt.date(2027, 3, 1),
        dt.date(2027, 5, 31),
    )
