"""Errors of the payments app: the retry classification is core's (core.retries), re-exported here for
code that still imports it from payments (deprecated; import commerce_coordinator.apps.core.retries)."""

from commerce_coordinator.apps.core.retries import RetryableError, is_retryable

__all__ = ["RetryableError", "is_retryable"]
