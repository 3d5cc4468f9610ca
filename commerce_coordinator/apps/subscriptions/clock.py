"""The subscriptions' clock: core's one movable clock ("now" for renewals and reminders, moved by tests),
the same one invoicing reads, and the periods of plans.

Periods are invoicing's billing periods: a plan's period is 1, 3 or 12 calendar months starting on the
first of a month, so each renewal lands on the account's invoice of that month (ADR 0061).
"""

import datetime as dt

from commerce_coordinator.apps.core.clock import add_months, at, move, now, parse_period, reset, set_to, today

__all__ = ["add_months", "at", "move", "now", "parse_period", "period_from", "reset", "set_to", "today"]


def period_from(start: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The period of `months` months beginning with `start`'s month: (first day, last day)."""
    first = start.replace(day=1)
    return first, add_months(first, months) - dt.timedelta(days=1)
