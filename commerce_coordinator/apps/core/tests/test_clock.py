"""core.clock: the one movable clock that every day-counting decision reads."""

import datetime as dt

import pytest
from django.utils import timezone

from commerce_coordinator.apps.core import clock


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


def test_the_clock_runs_with_real_time_until_moved():
    before = timezone.now()
    moment = clock.now()
    assert before <= moment <= timezone.now() and moment.tzinfo is not None
    assert clock.today() == moment.date()


def test_move_adds_up_and_reset_returns_to_real_time():
    clock.move(days=2)
    clock.move(hours=-12)
    assert abs(clock.now() - (timezone.now() + dt.timedelta(days=1, hours=12))) < dt.timedelta(seconds=5)
    clock.reset()
    assert abs(clock.now() - timezone.now()) < dt.timedelta(seconds=5)


def test_set_to_puts_the_clock_at_a_moment_and_it_runs_on_from_there():
    moment = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    clock.set_to(moment)
    assert moment <= clock.now() < moment + dt.timedelta(seconds=5)
    assert clock.today() == dt.date(2026, 12, 2)
    clock.move(days=30)
    assert clock.today() == dt.date(2027, 1, 1)


def test_at_runs_a_block_at_a_moment_and_puts_the_clock_back():
    clock.set_to(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC))
    with clock.at(dt.datetime(2030, 6, 15, 8, tzinfo=dt.UTC)):
        assert clock.today() == dt.date(2030, 6, 15)
    assert clock.today() == dt.date(2026, 12, 2)
    with pytest.raises(RuntimeError), clock.at(dt.datetime(2031, 1, 1, tzinfo=dt.UTC)):
        raise RuntimeError("the block failed")
    assert clock.today() == dt.date(2026, 12, 2)  # put back all the same


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 1)),
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 1)),
        (dt.date(2026, 11, 1), 3, dt.date(2027, 2, 1)),
        (dt.date(2026, 12, 1), 12, dt.date(2027, 12, 1)),
        (dt.date(2026, 1, 1), -1, dt.date(2025, 12, 1)),
        (dt.date(2026, 5, 20), 0, dt.date(2026, 5, 1)),
    ],
)
def test_add_months_gives_the_first_of_the_month(start, months, expected):
    assert clock.add_months(start, months) == expected


def test_parse_period_reads_a_month_and_says_what_it_expects():
    assert clock.parse_period("2026-12") == dt.date(2026, 12, 1)
    for bad in ("2026-13", "12-2026", "2026-12-01", ""):
        with pytest.raises(ValueError, match="is not YYYY-MM"):
            clock.parse_period(bad)
