"""The subscriptions clock: "now" for renewals and reminders, movable in tests (invoicing's approach).

Periods are invoicing's billing periods: a plan's period is 1, 3 or 12 calendar months starting on the
first of a month, so each renewal lands on the account's invoice of that month (ADR 0061).
"""

import datetime as dt

from django.utils import timezone

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    return timezone.now() + _offset


def today() -> dt.date:
    return now().date()


def move(**delta) -> None:
    """Move the clock forward (or back) by a timedelta's keywords: move(days=3)."""
    global _offset
    _offset += dt.timedelta(**delta)


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)


def add_months(start: dt.date, months: int) -> dt.date:
    """The first of the month `months` after `start`'s month."""
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_from(start: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The period of `months` months beginning with `start`'s month: (first day, last day)."""
    first = start.replace(day=1)
    return first, add_months(first, months) - dt.timedelta(days=1)


def parse_period(text: str) -> dt.date:
    """'2026-12' -> date(2026, 12, 1); a ValueError that says what is expected otherwise."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"period {text!r} is not YYYY-MM") from None
