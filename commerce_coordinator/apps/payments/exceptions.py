"""Errors of the payments app."""


class RetryableError(Exception):
    """A receiver error worth retrying (a network error, a 5xx or 429 from a downstream service).

    Receivers outside this app must not import it (plugin apps are independent): any exception
    with a true ``retryable`` attribute counts the same, as do ConnectionError and TimeoutError.
    """

    retryable = True


def is_retryable(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    return bool(getattr(exc, "retryable", False)) or isinstance(exc, ConnectionError | TimeoutError)
