"""Receivers the tests route the payment signals to (through CC_SIGNALS, like any receiver)."""

import time

from commerce_coordinator.apps.core.retries import RetryableError

CALLS: list[tuple[str, dict]] = []
FAILURES = {"remaining": 0, "retryable": True}


def _record(name, kwargs):
    CALLS.append((name, kwargs))
    return f"recorded {name}"


def record_succeeded(sender, **kwargs):
    return _record("payment_succeeded", kwargs)


def record_failed(sender, **kwargs):
    return _record("payment_failed", kwargs)


def record_refunded(sender, **kwargs):
    return _record("payment_refunded", kwargs)


def record_subscription(sender, **kwargs):
    return _record("subscription_changed", kwargs)


def flaky(sender, **kwargs):
    """Fails while FAILURES["remaining"] > 0 (retryable or not), then succeeds."""
    if FAILURES["remaining"] > 0:
        FAILURES["remaining"] -= 1
        if FAILURES["retryable"]:
            raise RetryableError("the LMS answered 503")
        raise ValueError("the LMS answered 400: no such course")
    return "ok"


def slow(sender, **kwargs):
    time.sleep(0.2)
    return "slow"


def record_refund_answer(sender, **kwargs):
    """refund_succeeded / refund_failed (tests tell them apart by the status)."""
    return _record("refund_answer", kwargs)
