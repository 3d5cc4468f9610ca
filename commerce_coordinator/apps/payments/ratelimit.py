"""The charge calls' rate limit in this process (PAYMENTS_CHARGE_RATE_LIMIT), shared by every thread that calls a
provider: the single attempts' tasks and the calls a chunk's task makes concurrently (ADR 0035).

Celery's `rate_limit` counted task messages; a chunk's task is one message for several calls, so the limit is now
on the calls themselves: each call takes the next free slot (1/rate apart) and waits for it. A 429 from a provider
pauses every call of the process for its Retry-After (or a second), and the attempt that met it is retried on its
own task after that (core's policy).
"""

from __future__ import annotations

import functools
import re
import threading
import time

from django.conf import settings

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_PAUSE = 1.0  # seconds of a 429 that says no Retry-After


@functools.lru_cache(maxsize=32)  # read on every provider call; the setting has one value per process
def per_second(value) -> float:
    """Celery's rate-limit notation ("100/s", "6000/m", "50"): calls per second; 0 for none."""
    if value in (None, "", 0):
        return 0.0
    found = re.fullmatch(r"\s*([0-9.]+)\s*(?:/\s*([smh]))?\s*", str(value))
    if not found:
        raise ValueError(f"PAYMENTS_CHARGE_RATE_LIMIT {value!r}: expected e.g. '100/s', '6000/m'")
    return float(found.group(1)) / UNITS[found.group(2) or "s"]


class RateLimit:
    """Calls spaced 1/rate apart (no bursts), and a pause that holds them all after a 429."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0
        self._clock, self._sleep = clock, sleep

    def wait(self) -> float:
        """Block until this call may go; returns the seconds waited."""
        rate = per_second(settings.PAYMENTS_CHARGE_RATE_LIMIT)
        with self._lock:
            now = self._clock()
            slot = max(now, self._paused_until, self._next if rate else now)
            if rate:
                self._next = slot + 1.0 / rate
        waited = slot - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def back_off(self, seconds: float | None) -> None:
        """A provider answered 429: no call of this process goes before `seconds` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + (seconds or DEFAULT_PAUSE))


calls = RateLimit()
