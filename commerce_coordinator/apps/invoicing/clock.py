"""Invoicing's clock: core's one movable clock ("now" for every invoicing decision; tests move it) and the
billing period, a calendar month.

Dunning and charge retries count days; a test moves the clock instead of waiting for them.
"""

import datetime as dt

from commerce_coordinator.apps.core.clock import add_months, at, move, now, parse_period, reset, set_to, today

__all__ = ["at", "move", "next_period", "now", "parse_period", "period_of", "reset", "set_to", "today"]


def period_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The billing period (a calendar month) that contains `day`: (first day, last day)."""
    start = day.replace(day=1)
    return start, next_period(start) - dt.timedelta(days=1)


def next_period(start: dt.date) -> dt.date:
    return add_months(start, 1)
