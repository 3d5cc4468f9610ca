"""The embedded default as a newcomer meets it: `manage.py migrate`, `manage.py runserver <any port>`, a
signed webhook, and nothing provisioned (settings.local, a fresh CC_VAR_DIR, no broker, no LMS).

Each test runs the real commands in subprocesses (tests/devserver.py): the development server starts its
embedded Celery worker on kombu's filesystem transport (ADR 22), so what is tested is what `make run` and
`manage.py runserver` do. They run in the SQLite pass only: the embedded default is SQLite.
"""

import json
import os
import threading
import time

import pytest
from werkzeug import Response

from .devserver import PYTHON, DevServer, signed_stripe_event

pytestmark = pytest.mark.skipif(
    os.environ.get("DB_ENGINE") == "mysql", reason="the embedded default is SQLite (runs in the SQLite pass)"
)
COURSE = "course-v1:edX+DemoX+Demo_Course"
RETRY_SCHEDULE = [2.0, 4.0, 8.0, 16.0]
JITTER = 0.25  # settings.LMS_RETRY_JITTER: a delay is at least (1 - JITTER) of its schedule entry


class LmsDownForAWhile:
    """An LMS (OAuth2 token + enrollment API) that answers 503 for `down_for` seconds after the first
    enrollment call, then enrolls; it records when each enrollment call arrived."""

    def __init__(self, down_for: float):
        self.down_for, self.calls, self.lock = down_for, [], threading.Lock()

    def token(self, request):
        body = {"access_token": "lms-token", "token_type": "JWT", "expires_in": 3600, "scope": "read write"}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def enrollment(self, request):
        now = time.monotonic()
        with self.lock:
            self.calls.append(now)
            down = now - self.calls[0] < self.down_for
        if down:
            return Response('{"message": "down for maintenance"}', status=503, content_type="application/json")
        body = request.get_json(silent=True) or {}
        answer = {"user": body.get("user"), "mode": body.get("mode"), "is_active": True, "course_details": {}}
        return Response(json.dumps(answer), status=200, content_type="application/json")


@pytest.fixture
def dev_server(tmp_path):
    servers = []

    def make(**env):
        servers.append(DevServer(tmp_path / "var", **env))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def test_an_lms_down_for_a_while_ends_in_a_fulfilled_order_each_retry_waiting_its_countdown(dev_server, httpserver):
    lms = LmsDownForAWhile(down_for=4.0)
    httpserver.expect_request("/oauth2/access_token", method="POST").respond_with_handler(lms.token)
    httpserver.expect_request("/api/enrollment/v1/enrollment", method="POST").respond_with_handler(lms.enrollment)
    server = dev_server(
        LMS_URL_ROOT=httpserver.url_for("").rstrip("/"),
        LMS_RETRY_SCHEDULE=",".join(f"{s:g}" for s in RETRY_SCHEDULE),
        LMS_OAUTH_CLIENT_SECRET="cc-embedded-test-secret",
    )
    server.manage("migrate", "--noinput")  # every alias (default and traces)
    server.create_staff()
    server.start([PYTHON, "manage.py", "runserver", "--noreload", "127.0.0.1:0"])

    body, headers = signed_stripe_event("evt_retry_1", "ORD-RETRY-1", "3", COURSE)
    assert server.request("POST", "/payments/webhooks/stripe/", body, headers)[0] == 200
    order = server.wait_for_order("ORD-RETRY-1", "fulfilled", timeout=60)

    [line] = order["lines"]
    assert line["status"] == "fulfilled" and line["attempts"] == len(lms.calls) >= 3
    gaps = [later - earlier for earlier, later in zip(lms.calls, lms.calls[1:], strict=False)]
    for retry, gap in enumerate(gaps):  # in process (eager), the whole schedule was spent in milliseconds
        assert gap >= RETRY_SCHEDULE[retry] * (1 - JITTER), f"retry {retry + 1} came {gap:.2f}s after, {gaps}"
    assert lms.calls[-1] - lms.calls[0] >= lms.down_for


def test_migrate_then_runserver_on_any_port_then_a_signed_webhook_ends_in_an_enrolled_order(dev_server):
    server = dev_server()  # no LMS_URL_ROOT: the demo LMS of this very server, on the port it bound
    server.manage("migrate", "--noinput")
    server.create_staff()
    server.start([PYTHON, "manage.py", "runserver", "0"])  # port 0: any free port, with the autoreloader
    assert not server.url.endswith(":8140")

    body, headers = signed_stripe_event("evt_any_port_1", "ORD-ANY-PORT-1", "7", COURSE)
    assert server.request("POST", "/payments/webhooks/stripe/", body, headers)[0] == 200
    order = server.wait_for_order("ORD-ANY-PORT-1", "fulfilled", timeout=60)

    assert order["lines"][0]["attempts"] == 1
    assert '"POST /demo_lms/oauth2/access_token HTTP/1.1" 200' in server.log()  # the client was made lazily
    form = b"grant_type=client_credentials&client_id=commerce-coordinator-local"
    form += b"&client_secret=commerce-coordinator-local-secret"
    token_type = {"Content-Type": "application/x-www-form-urlencoded"}
    token = server.request("POST", "/demo_lms/oauth2/access_token", form, token_type)[1]["access_token"]
    jwt = {"Authorization": f"JWT {token}"}
    code, enrollments = server.request("GET", "/demo_lms/api/enrollment/v1/enrollment?user=7", headers=jwt)
    assert code == 200 and [e["course_details"]["course_id"] for e in enrollments] == [COURSE]

    # The sends stored traces saw from inside a receiver appear in the signal map, as a user runs it.
    # `migrate` above migrated the traces database too (issue 8): the traces are stored.
    assert server.request("GET", "/demo_lms/demo_purchase_complete/")[0] == 200
    chart = server.manage("show_signals", "--format", "mermaid").stdout
    enroll, learner = (
        "R_demo_lms_receivers_demo_purchase_complete_enroll_in_course",
        "S_demo_lms_signals_enroll_learner",
    )
    assert f"{enroll} -.->|observed| {learner}" in chart
    assert chart.count("  R_payments_receivers_log_payment_event[") == 1

    # Operators' commands name what they did not find, and exit non-zero.
    replay = server.manage("replay_webhook_events", "--id", "evt_does_not_exist", check=False)
    assert replay.returncode != 0 and "evt_does_not_exist" in replay.stderr
    retry = server.manage("retry_fulfillment", "ORD-DOES-NOT-EXIST", check=False)
    assert retry.returncode != 0 and "No such order: ORD-DOES-NOT-EXIST" in retry.stderr

    workers = server.worker_pids()
    server.stop()
    assert workers and _gone(workers), "the embedded worker outlived its server"


def _gone(pids: list[int], timeout: float = 30) -> bool:
    """Have these processes exited (an orphan is reaped by init once its parent server is gone)?"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.2)
    return False
