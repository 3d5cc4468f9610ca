"""The LMS API client: OAuth2 client-credentials JWT (edx-rest-api-client) and the enrollment API.

The token is fetched and cached by edx-rest-api-client (TieredCache); on a 401
the cached token is dropped and the call is made once more with a fresh one.
Every error is an LmsError that core.retries classifies: retryable (connection error,
timeout, 5xx, 429 with its Retry-After) or permanent (any other 4xx).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone
from edx_django_utils.cache import TieredCache
from edx_rest_api_client.client import OAuthAPIClient, _get_oauth_url

from commerce_coordinator.apps.core import http_sessions, retries

logger = logging.getLogger(__name__)

ENROLLMENT_PATH = "/api/enrollment/v1/enrollment"


class LmsError(retries.WorkError):
    """An LMS call did not succeed, classified by core.retries: 5xx, 429, connection errors and timeouts
    are retryable, any other 4xx is permanent. `possibly_applied`: the LMS may have acted on the call
    anyway (the answer was lost, e.g. a read timeout), so whoever undoes it must assume it did."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        possibly_applied: bool = False,
    ):
        super().__init__(message, status_code=status_code, retry_after=retry_after)
        if retryable is not None:
            self.retryable = retryable
        self.possibly_applied = possibly_applied


@dataclass
class EnrollmentResult:
    status_code: int
    data: dict


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        text = body.get("message") or body.get("detail") or body.get("error") or body
    except ValueError:
        text = response.text
    return str(text)[:500]


class LmsApiClient:
    """Calls the LMS as this service (client credentials); one instance per worker process is fine."""

    def __init__(self, url_root=None, oauth_url=None, client_id=None, client_secret=None, timeout=None):
        self.url_root = (url_root or settings.LMS_URL_ROOT).rstrip("/")
        self.oauth_url = (oauth_url or getattr(settings, "LMS_OAUTH_URL", "") or self.url_root).rstrip("/")
        self.client_id = client_id or settings.LMS_OAUTH_CLIENT_ID
        self.client_secret = client_secret or settings.LMS_OAUTH_CLIENT_SECRET
        self.timeout = timeout or (settings.LMS_CONNECT_TIMEOUT, settings.LMS_READ_TIMEOUT)
        self.session = OAuthAPIClient(self.oauth_url, self.client_id, self.client_secret, timeout=self.timeout)
        http_sessions.read_environment_once(self.session, self.url_root)  # not on every call

    def _token_cache_key(self) -> str:
        # The key edx_rest_api_client.client.get_and_cache_oauth_access_token stores the token under.
        return (
            f"edx_rest_api_client.access_token.jwt.client_credentials.{self.client_id}.{_get_oauth_url(self.oauth_url)}"
        )

    def forget_token(self) -> None:
        TieredCache.delete_all_tiers(self._token_cache_key())

    def _post(self, path: str, body: dict) -> requests.Response:
        if not self.client_secret:
            raise LmsError(
                "LMS_OAUTH_CLIENT_SECRET is not set: this service cannot authenticate to the LMS. Set it (and "
                "LMS_OAUTH_CLIENT_ID), then run `manage.py retry_fulfillment --failed`.",
                retryable=False,
            )
        url = self.url_root + path
        try:
            response = self.session.post(url, json=body, timeout=self.timeout)
            if response.status_code == 401:
                logger.info("LMS answered 401 for %s: fetching a new access token and trying once more", path)
                self.forget_token()
                response = self.session.post(url, json=body, timeout=self.timeout)
        except requests.ConnectTimeout as exc:  # never reached the LMS
            raise LmsError(f"LMS connection timed out: {type(exc).__name__}", retryable=True) from exc
        except requests.Timeout as exc:  # sent, but the answer did not come in time: the LMS may act on it
            raise LmsError(f"LMS timed out: {type(exc).__name__}", retryable=True, possibly_applied=True) from exc
        except requests.ConnectionError as exc:
            raise LmsError(f"LMS connection error: {type(exc).__name__}", retryable=True) from exc
        except requests.HTTPError as exc:
            # raised by the token request (raise_for_status) of edx-rest-api-client
            status = retries.status_code_of(exc)
            raise LmsError(
                f"LMS token request failed with HTTP {status}",
                status_code=status,
                retryable=True if status is None else None,
            ) from exc
        except requests.RequestException as exc:
            raise LmsError(
                f"LMS request failed: {type(exc).__name__}: {exc}", retryable=True, possibly_applied=True
            ) from exc
        return response

    def set_enrollment(
        self, *, user: str, course_run_key: str, mode: str, is_active: bool, order_number: str | None = None
    ) -> EnrollmentResult:
        """POST {LMS_URL_ROOT}/api/enrollment/v1/enrollment: enroll (is_active true) or unenroll (false)."""
        body = {
            "user": user,
            "mode": mode,
            "is_active": is_active,
            "course_details": {"course_id": course_run_key},
        }
        if order_number:
            body["enrollment_attributes"] = [{"namespace": "order", "name": "order_number", "value": order_number}]
        response = self._post(ENROLLMENT_PATH, body)
        status = response.status_code
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                data = {}
            return EnrollmentResult(status, data if isinstance(data, dict) else {"data": data})
        raise LmsError(
            f"LMS answered {status}: {_error_text(response)}",
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            possibly_applied=status >= 500,  # a gateway error may hide an applied call
        )


_client: LmsApiClient | None = None
_client_key = None


def get_client() -> LmsApiClient:
    """A client per process, rebuilt when its settings change (tests override them)."""
    global _client, _client_key
    key = (
        settings.LMS_URL_ROOT,
        getattr(settings, "LMS_OAUTH_URL", ""),
        settings.LMS_OAUTH_CLIENT_ID,
        settings.LMS_OAUTH_CLIENT_SECRET,
        settings.LMS_CONNECT_TIMEOUT,
        settings.LMS_READ_TIMEOUT,
    )
    if _client is None or key != _client_key:
        _client, _client_key = LmsApiClient(), key
    return _client
