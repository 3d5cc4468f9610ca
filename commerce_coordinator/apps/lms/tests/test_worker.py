"""A real Celery worker on Redis fulfils an order, retrying on the broker's clock, within one trace tree.

TODO(after the payments branch merges): the full-flow test the issue asks for, written then because
this branch cannot import the payments app: a signed Stripe `payment_intent.succeeded` POSTed to
/payments/webhooks/stripe/ (metadata: order_number, lms_user_id, course_run_keys) -> the payments
task in a real worker -> payment_succeeded -> lms.receivers.fulfill_paid_order -> lms.process_line in
the worker -> the demo LMS (live_server) -> order fulfilled, asserting ONE trace tree from the webhook
to the enrollment calls, and that the same webhook delivered twice makes one enrollment call per line.
The pieces are here: `fake_lms` / the demo LMS on `live_server`, the `worker` fixture below (its LMS
settings reach the worker through the environment), and `routed` for the fulfillment signals.
The test itself is written: test_webhook_flow.py.after-payments-merge (passed in a trial merge).
"""

import os
import signal
import time
from unittest import mock

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core import testing
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.lms.models import Order, OrderLine
from commerce_coordinator.apps.lms.tasks import process_line

from .fake_payments import pay, refund

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]

A, B = "course-v1:edX+A+2026", "course-v1:edX+B+2026"


@pytest.fixture
def worker_env(fake_lms, routed, monkeypatch):
    """A worker process reads the fake LMS's address and a short retry schedule from its environment."""
    from django.conf import settings

    monkeypatch.setenv("LMS_URL_ROOT", settings.LMS_URL_ROOT)
    monkeypatch.setenv("LMS_OAUTH_CLIENT_ID", settings.LMS_OAUTH_CLIENT_ID)
    monkeypatch.setenv("LMS_OAUTH_CLIENT_SECRET", settings.LMS_OAUTH_CLIENT_SECRET)
    monkeypatch.setenv("LMS_READ_TIMEOUT", "2")
    monkeypatch.setenv("LMS_RETRY_SCHEDULE", "0.2,0.2,0.2")


@pytest.fixture
def worker(worker_env):
    with testing.celery_worker() as worker:
        yield worker


def test_worker_fulfils_an_order_after_503_and_429_within_one_trace(fake_lms, worker):
    fake_lms.then(503).then(429, headers={"Retry-After": "2"})
    with override_settings(LMS_RETRY_SCHEDULE=[0.2, 0.2, 0.2]):
        result = pay(order_number="W-1", keys=[A, B])
    assert [r.status for r in result.results] == ["ok"]

    order = wait_until(
        lambda: Order.objects.filter(order_number="W-1", status="fulfilled").first(),
        timeout=45,
        message="the worker to fulfil the order",
    )
    lines = {line.course_run_key: line for line in order.lines.all()}
    assert sum(line.attempts for line in lines.values()) == 4  # 2 lines, 2 retries between them
    assert all(line.state == "fulfilled" for line in lines.values())
    # The 429's Retry-After (2 s) was honoured rather than the 0.2 s schedule.
    assert len(fake_lms.calls) == 4
    first_line = fake_lms.calls[0]["body"]["course_details"]["course_id"]
    other = B if first_line == A else A  # the line that got the 429
    [first, second] = [call["at"] for call in fake_lms.enroll_calls(other)]
    assert second - first >= 1.9

    # One trace tree: send -> receiver -> the order's lines in one task run (both answered 503 / 429: retry), each
    # line's retry handed to its own lms.process_line run under it; the completion send under the last.
    def tree():
        nodes = list(TraceNode.objects.filter(trace_id=result.trace_id))
        done = [n for n in nodes if n.kind == "send" and "fulfillment_completed" in n.name]
        return nodes if done else None

    nodes = wait_until(tree, timeout=15, message="the completion send in the trace")
    by_id = {n.id: n for n in nodes}
    [receiver] = [n for n in nodes if n.kind == "receiver" and n.name.endswith("fulfill_paid_order")]
    [batch] = [n for n in nodes if n.kind == "task" and n.name == "lms.process_lines"]
    assert (batch.parent_id, batch.status) == (receiver.id, "retry")  # never "ok" while a line waits for a retry
    assert "2 of 2 item(s) not done" in batch.error_message
    tasks = [n for n in nodes if n.kind == "task" and n.name == "lms.process_line"]
    assert [(t.parent_id, t.status) for t in tasks] == [(batch.id, "ok"), (batch.id, "ok")]
    [completed] = [n for n in nodes if n.kind == "send" and "fulfillment_completed" in n.name]
    assert by_id[completed.parent_id].kind == "task"
    for node in nodes:  # every node reaches the top-level send
        while node.parent_id:
            node = by_id[node.parent_id]
        assert node.kind == "send" and node.parent_id is None
    assert f"[trace={result.trace_id}]" in worker.log()


def test_a_duplicate_payment_through_the_worker_calls_the_lms_once_per_line(fake_lms, worker):
    pay(order_number="W-2", keys=[A, B])
    pay(order_number="W-2", keys=[A, B])
    wait_until(lambda: Order.objects.filter(order_number="W-2", status="fulfilled").exists(), timeout=30)
    assert len(fake_lms.enroll_calls(A)) == 1 and len(fake_lms.enroll_calls(B)) == 1
    assert OrderLine.objects.filter(order__order_number="W-2").count() == 2


def test_a_killed_pool_child_mid_enrollment_is_redelivered_and_retakes_its_line_at_once(
    fake_lms, worker_env, monkeypatch
):
    fake_lms.then(200, delay=3)  # the first enrollment call hangs at the LMS (then is applied there anyway)
    monkeypatch.setenv("LMS_READ_TIMEOUT", "8")  # the one-threaded fake LMS answers the redelivery after it
    with testing.celery_worker(pool="prefork") as worker:
        pay(order_number="KILL-1", keys=[A])
        line = OrderLine.objects.get()
        wait_until(lambda: len(fake_lms.calls) == 1, timeout=30, message="the enrollment call to reach the LMS")
        assert OrderLine.objects.get(pk=line.pk).status == "running"
        child = wait_until(worker.pool_child_pid, message="the pool child")
        killed_at = time.monotonic()
        os.kill(child, signal.SIGKILL)
        order = wait_until(
            lambda: Order.objects.filter(order_number="KILL-1", status="fulfilled").first(),
            timeout=60,
            message="the redelivered task to fulfil the order",
        )
        recovered_in = time.monotonic() - killed_at
        assert "WorkerLostError" in worker.log() or "worker lost" in worker.log().lower()
    line.refresh_from_db()
    assert (line.state, line.attempts) == ("fulfilled", 2)  # the redelivered task retook its own line
    assert recovered_in < 30  # at once: not after CC_DURABLE_RUNNING_TIMEOUT and a sweep
    assert len(fake_lms.calls) == 2  # the killed call and the redelivered one; no third from a sweep
    assert fake_lms.enrollments_created == 1 and fake_lms.enrollments == {("42", A): True}
    assert order.fulfilled_at is not None


def test_a_refund_after_a_worker_died_mid_enrollment_unenrolls_once_the_dead_call_cannot_land(fake_lms, worker):
    """bench/faults (c): a worker killed mid-enrollment leaves its line running and its call at the LMS, which
    applies it late; a refund before any redelivery must unenroll after that, not before (the last word wins)."""
    with override_settings(LMS_LATE_APPLY_WINDOW=1.0):  # with fake_lms' timeouts: 3 x 1.5 + 1 = 5.5 s after the claim
        with mock.patch.object(process_line, "apply_async"):  # the enrollment task, taken by the worker that dies
            pay(order_number="DEAD-1", keys=[A])
        line = OrderLine.objects.get()
        dead = OrderLine.claim(line.pk, line.claim_token)  # what the killed run left: running, its call sent
        assert dead.status == "running"
        refund(order_number="DEAD-1")  # before any redelivery; the unenrollment goes to the real worker
        process_line.apply_async(args=[line.pk], task_id=dead.claim_token)  # the redelivery, refused: no call
        time.sleep(2)
        landed_at = time.time()
        fake_lms.apply({"user": "42", "course_details": {"course_id": A}, "is_active": True})  # the dead call lands
        wait_until(lambda: OrderLine.objects.get().state == "refunded", timeout=30, message="the unenrollment")
    assert fake_lms.enrollments == {("42", A): False}  # unenrolled at the end
    [unenrolled] = fake_lms.enroll_calls(A, active=False)
    assert unenrolled["at"] > landed_at
    assert fake_lms.enroll_calls(A, active=True) == []  # the redelivered enrollment was refused
