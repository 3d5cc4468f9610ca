"""The billing clock: "now" for every invoicing decision, movable in tests and by operators (`--now`).

Dunning and charge retries count days; a test moves this clock instead of waiting for them.
"""

import contextlib
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


@contextlib.contextmanager
def at(moment: dt.datetime):
    """Run a block as if it were `moment`."""
    global _offset
    saved = _offset
    _offset = moment - timezone.now()
    try:
        yield
    finally:
        _offset = saved


def period_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The billing period (a calendar month) that contains `day`: (first day, last day)."""
    start = day.replace(day=1)
    return start, next_period(start) - dt.timedelta(days=1)


def next_period(start: dt.date) -> dt.date:
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def parse_period(text: str) -> dt.date:
    """'2026-12' -> date(2026, 12, 1); a ValueError that says what is expected otherwise."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"period {text!r} is not YYYY-MM") from None
