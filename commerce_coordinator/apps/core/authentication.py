"""HTTP Basic authentication that stops hashing passwords for a client or a username after repeated failures.

A password check costs a full PBKDF2 hash (~200 ms of CPU), also for an unknown user, so unthrottled
bogus credentials can starve the web workers. Failures are counted in the cache per client address
and per username; past CC_AUTH_FAILURE_LIMIT within CC_AUTH_FAILURE_WINDOW seconds the request is
answered 429 *before* any hashing (docs/decisions/0021).
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)


def _failure_keys(request, username: str) -> list[str]:
    client = BaseThrottle().get_ident(request)  # REMOTE_ADDR, or X-Forwarded-For per NUM_PROXIES
    user_digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:32]
    return [f"cc-auth-fail:ip:{client}", f"cc-auth-fail:user:{user_digest}"]


def _is_blocked(keys: list[str]) -> bool:
    try:
        counts = cache.get_many(keys)
    except Exception:  # the cache is down: fail open, the password check still protects the account
        logger.warning("Authentication failure counters unavailable (cache down); not throttling.")
        return False
    return any(count >= settings.CC_AUTH_FAILURE_LIMIT for count in counts.values())


def _count_failure(keys: list[str]) -> None:
    try:
        for key in keys:
            cache.add(key, 0, settings.CC_AUTH_FAILURE_WINDOW)  # the window starts at the first failure
            cache.incr(key)
    except Exception:  # the cache is down, or the key expired between add and incr
        logger.warning("Could not count an authentication failure (cache unavailable).")


class ThrottledBasicAuthentication(BasicAuthentication):
    """DRF's BasicAuthentication, answering 429 without a password hash once a client or username failed too often."""

    def authenticate_credentials(self, userid, password, request=None):
        keys = _failure_keys(request, userid)
        if _is_blocked(keys):
            raise exceptions.Throttled(
                wait=settings.CC_AUTH_FAILURE_WINDOW,
                detail="Too many failed authentications from this client or for this user; try again later.",
            )
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            _count_failure(keys)
            raise


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema describes it as plain HTTP Basic (drf-spectacular)."""

    target_class = ThrottledBasicAuthentication
