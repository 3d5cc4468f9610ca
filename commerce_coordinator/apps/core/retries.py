"""Core's retry policy: which failures are worth another attempt, and when that attempt runs.

One classification for every app (docs/decisions/0011-durable-work-items.md): network errors,
timeouts, HTTP 5xx and 429, and any exception whose ``retryable`` attribute is true are
retryable; everything else is permanent. Delays come from a list-of-seconds setting, with
jitter, and a longer Retry-After from the other side wins (capped).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError
from requests import exceptions as requests_exceptions

# Failures of the path to the other side (or to our database: a dropped connection, a deadlock, a lock
# wait timeout): worth another attempt.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    requests_exceptions.ConnectionError,
    requests_exceptions.Timeout,
    OperationalError,
    InterfaceError,
)


class WorkError(Exception):
    """A failure of a unit of work, with what the other side answered (when it answered).

    Its status code decides whether it is retried (5xx and 429 are); the subclasses decide outright.
    """

    retryable: bool | None = None

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class RetryableError(WorkError):
    """Worth another attempt later: the other side is down, overloaded or slow."""

    retryable = True


class PermanentError(WorkError):
    """Not worth another attempt: the other side refused the request as it is."""

    retryable = False


def status_code_of(exc: BaseException | None) -> int | None:
    """The HTTP status an exception carries (its own ``status_code`` or its ``response``'s), if any."""
    if exc is None:
        return None
    code = getattr(exc, "status_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = getattr(response, "status_code", None)
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def retry_after_of(exc: BaseException | None) -> float | None:
    """Seconds from the exception's ``retry_after`` or its response's Retry-After header (seconds form)."""
    if exc is None:
        return None
    value = getattr(exc, "retry_after", None)
    if value is None:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_retryable(exc: BaseException | None) -> bool:
    """Core's one classification: network errors, timeouts, 5xx, 429 and ``retryable`` exceptions."""
    if exc is None:
        return False
    flag = getattr(exc, "retryable", None)
    if flag is not None:
        return bool(flag)
    if isinstance(exc, NETWORK_ERRORS):
        return True
    code = status_code_of(exc)
    return code is not None and (code >= 500 or code == 429)


def receivers_failure(errors, clean=str) -> WorkError:
    """One error for the receivers that failed in a send (their ReceiverResults): retryable when any of
    them is, else permanent; `clean` redacts the message (what an item's last_error stores)."""
    message = clean("; ".join(f"{r.receiver}: {type(r.error).__name__}: {r.error}" for r in errors))
    code = next((c for r in errors if (c := status_code_of(r.error)) is not None), None)
    error = RetryableError if any(is_retryable(r.error) for r in errors) else PermanentError
    return error(message, status_code=code)


@dataclass(frozen=True)
class RetryPolicy:
    """Delays (seconds) before each retry, with jitter; Retry-After wins when it asks for longer."""

    schedule: tuple[float, ...]
    jitter: float = 0.25
    retry_after_max: float = 6 * 3600

    @classmethod
    def from_settings(cls, schedule_setting: str | None = None) -> RetryPolicy:
        """The schedule named by a setting (a list of seconds), else CC_RETRY_SCHEDULE."""
        schedule = getattr(settings, schedule_setting or "CC_RETRY_SCHEDULE", None)
        if schedule is None:
            schedule = settings.CC_RETRY_SCHEDULE
        return cls(
            schedule=tuple(float(s) for s in schedule),
            jitter=float(settings.CC_RETRY_JITTER),
            retry_after_max=float(settings.CC_RETRY_AFTER_MAX),
        )

    @property
    def max_attempts(self) -> int:
        """The first attempt and one more per delay of the schedule."""
        return len(self.schedule) + 1

    def countdown(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after `attempts` attempts (1 = the first failed), or None when the schedule is spent."""
        if attempts < 1 or attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        delay = base * random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else base
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), self.retry_after_max))
        return delay
