"""The service's one movable clock: "now" for every decision that counts days (billing periods, dunning
steps, charge retries, renewals, reminders), so that tests can move it instead of waiting. Apps read
`now()` / `today()` here (or through their own `clock` module, which re-exports these) and never
`timezone.now()` for such decisions; every app then sees the same moment.

The clock is an offset added to the real time, per process: moving it does not stop it.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.utils import timezone

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """The clock's current moment (an aware datetime)."""
    return timezone.now() + _offset


def today() -> dt.date:
    return now().date()


def move(**delta) -> None:
    """Move the clock forward (or back) by a timedelta's keywords: move(days=3)."""
    global _offset
    _offset += dt.timedelta(**delta)


def set_to(moment: dt.datetime) -> None:
    """Put the clock at `moment` (an aware datetime); it runs on from there."""
    global _offset
    _offset = moment - timezone.now()


def reset() -> None:
    """Back to the real time."""
    global _offset
    _offset = dt.timedelta(0)


@contextlib.contextmanager
def at(moment: dt.datetime):
    """Run a block as if it were `moment`; the clock is where it was afterwards."""
    global _offset
    saved = _offset
    set_to(moment)
    try:
        yield
    finally:
        _offset = saved


def add_months(start: dt.date, months: int) -> dt.date:
    """The first of the month `months` after `start`'s month (negative: before)."""
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_period(text: str) -> dt.date:
    """A month as 'YYYY-MM' -> its first day: '2026-12' -> date(2026, 12, 1); a ValueError that says what is
    expected otherwise."""
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"period {text!r} is not YYYY-MM") from None
