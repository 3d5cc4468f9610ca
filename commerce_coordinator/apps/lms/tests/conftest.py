"""A fake LMS on a real HTTP server (pytest-httpserver): the OAuth2 token endpoint and the enrollment API."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.cache import cache
from django.test import override_settings
from edx_django_utils.cache import RequestCache
from werkzeug import Response

from . import fake_payments

ENROLLMENT = "/api/enrollment/v1/enrollment"
TOKEN = "/oauth2/access_token"


class FakeLms:
    """Answers the enrollment API from a script of (status, headers, delay) steps, then 200s; records calls."""

    def __init__(self):
        self.script: list[tuple[int, dict, float]] = []
        self.calls: list[dict] = []
        self.token_calls: list[dict] = []
        self.tokens_issued = 0
        self.rejected_tokens: set[str] = set()
        # The LMS's own state, changed when an answered-200 call completes (after its delay), as a real
        # LMS applies a call whether or not its caller is still waiting: (user, course) -> is_active.
        self.enrollments: dict[tuple[str, str], bool] = {}
        self.enrollments_created = 0
        self.lock = threading.Lock()

    def then(self, status: int, times: int = 1, headers: dict | None = None, delay: float = 0.0) -> FakeLms:
        self.script += [(status, headers or {}, delay)] * times
        return self

    def token(self, request):
        with self.lock:
            self.tokens_issued += 1
            self.token_calls.append(dict(request.form))
            n = self.tokens_issued
        body = {"access_token": f"token-{n}", "token_type": "JWT", "expires_in": 3600, "scope": "read write"}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def enrollment(self, request):
        body = request.get_json(silent=True) or {}
        with self.lock:
            self.calls.append({"body": body, "auth": request.headers.get("Authorization", ""), "at": time.time()})
            status, headers, delay = self.script.pop(0) if self.script else (200, {}, 0.0)
        if delay:
            time.sleep(delay)
        if status == 200:
            self.apply(body)
            answer = {
                "created": "2026-01-01T00:00:00Z",
                "mode": body.get("mode"),
                "is_active": body.get("is_active", True),
                "course_details": {"course_id": (body.get("course_details") or {}).get("course_id")},
                "user": body.get("user"),
            }
        else:
            answer = {"message": f"scripted {status}"}
        return Response(json.dumps(answer), status=status, headers=headers, content_type="application/json")

    def apply(self, body: dict) -> None:
        key = (str(body.get("user")), (body.get("course_details") or {}).get("course_id"))
        active = bool(body.get("is_active", True))
        with self.lock:
            if active and key not in self.enrollments:
                self.enrollments_created += 1
            self.enrollments[key] = active

    def enroll_calls(self, key: str | None = None, active: bool | None = None) -> list[dict]:
        return [
            c
            for c in self.calls
            if (key is None or c["body"]["course_details"]["course_id"] == key)
            and (active is None or c["body"]["is_active"] is active)
        ]


def clear_token_cache():
    cache.clear()
    RequestCache.clear_all_namespaces()


@pytest.fixture
def fake_lms(httpserver):
    lms = FakeLms()
    httpserver.expect_request(TOKEN, method="POST").respond_with_handler(lms.token)
    httpserver.expect_request(ENROLLMENT, method="POST").respond_with_handler(lms.enrollment)
    clear_token_cache()
    with override_settings(
        LMS_URL_ROOT=httpserver.url_for("").rstrip("/"),
        LMS_OAUTH_URL="",
        LMS_OAUTH_CLIENT_ID="cc-test-client",
        LMS_OAUTH_CLIENT_SECRET="cc-test-secret",
        LMS_CONNECT_TIMEOUT=1.0,
        LMS_READ_TIMEOUT=0.5,
        LMS_RETRY_SCHEDULE=[0.01, 0.01, 0.01, 0.01],
        CC_RETRY_JITTER=0.1,
        LMS_LINES_AT_ONCE=1,  # its answers are scripted in call order: an order's lines one after another (ADR 76)
    ):
        yield lms
    clear_token_cache()


@pytest.fixture
def routed():
    """Payment stand-ins routed to this app's receivers, and the fulfillment signals to a recorder."""
    fake_payments.RECORDED.clear()
    with override_settings(CC_SIGNALS=fake_payments.CC_SIGNALS):
        yield fake_payments.RECORDED
    fake_payments.RECORDED.clear()
