"""A real Celery worker on Redis processes stored events; a worker killed mid-task leaves its event to be
processed again, exactly once."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until

from ..models import WebhookEvent
from .helpers import payment_intent, payments_worker, post_stripe, stripe_event
from .worker_hooks import RECEIVER

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]
PAYMENT_SUCCEEDED = "commerce_coordinator.apps.payments.signals.payment_succeeded"
HOOKS = ["--include", "commerce_coordinator.apps.payments.tests.worker_hooks"]


def _status(pk):
    return WebhookEvent.objects.filter(pk=pk).values_list("status", flat=True).first()


def _marker_pids(path):
    return path.read_text().split() if path.exists() else []


def test_a_worker_processes_a_stored_event_under_its_trace(client):
    with payments_worker() as worker:
        _processes_under_its_trace(client, worker)


def _processes_under_its_trace(client, celery_worker):
    response = post_stripe(client, stripe_event(obj=payment_intent(pi_id="pi_worker"), event_id="evt_worker"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    wait_until(lambda: _status(event.pk) == "done", timeout=30, message="the worker to process the event")
    nodes = TraceNode.objects.filter(trace_id=event.trace_id)
    wait_until(lambda: nodes.filter(kind="task").exists(), message="the task node")
    # Published by the relay: the batch task records a task node in each of its events' traces.
    assert nodes.filter(kind="task", name__endswith="process_webhook_events").count() == 1
    receiver = nodes.get(kind="receiver", name__endswith="payments.receivers.log_payment_event")
    assert receiver.status == "ok"
    assert f"[trace={event.trace_id}]" in celery_worker.log()


def test_a_pool_child_killed_mid_task_is_retaken_at_once_by_the_redelivered_task(client, tmp_path, monkeypatch):
    """Core's claim rule on the real broker (issue 9, item 6): the redelivered batch task retakes its running
    event at once (no CC_DURABLE_RUNNING_TIMEOUT wait, no sweep), and the side effect happens once."""
    marker = tmp_path / "calls"
    monkeypatch.setenv("PAYMENTS_TEST_MARKER", str(marker))
    with payments_worker(pool="prefork", extra_args=HOOKS) as worker:
        post_stripe(client, stripe_event(obj=payment_intent(pi_id="pi_kill"), event_id="evt_kill"))
        event = WebhookEvent.objects.get()
        [child] = wait_until(lambda: _marker_pids(marker), timeout=30, message="the slow receiver to start")
        assert _status(event.pk) == "running"
        killed_at = time.monotonic()
        os.kill(int(child), signal.SIGKILL)  # the pool child dies in the middle of the receiver

        wait_until(lambda: _status(event.pk) == "done", timeout=60, message="the redelivered task")
        assert time.monotonic() - killed_at < 30  # far below CC_DURABLE_RUNNING_TIMEOUT (900 s)
        event.refresh_from_db()
        pids = _marker_pids(marker)
        assert len(pids) == 2 and pids[0] != pids[1]  # run again, in a new child
        assert event.attempts == 2 and event.last_error == ""
        sends = TraceNode.objects.filter(trace_id=event.trace_id, kind="send", name=PAYMENT_SUCCEEDED)
        wait_until(lambda: sends.exists(), message="the send node")
        assert sends.count() == 1 and sends.get().status == "ok"  # exactly one completed send
        assert TraceNode.objects.filter(trace_id=event.trace_id, kind="receiver", name=RECEIVER).count() == 1
        assert "WorkerLostError" in worker.log()


def test_a_whole_worker_killed_mid_task_is_recovered_by_the_sweep(client, tmp_path, monkeypatch):
    marker = tmp_path / "calls"
    monkeypatch.setenv("PAYMENTS_TEST_MARKER", str(marker))
    with payments_worker(pool="prefork", extra_args=HOOKS) as worker:
        post_stripe(client, stripe_event(obj=payment_intent(pi_id="pi_dead"), event_id="evt_dead"))
        event = WebhookEvent.objects.get()
        [child] = wait_until(lambda: _marker_pids(marker), timeout=30, message="the slow receiver to start")
        os.kill(worker.process.pid, signal.SIGKILL)  # the machine dies: main process and its child
        os.kill(int(child), signal.SIGKILL)
        worker.process.wait(10)
        # Its message stays unacknowledged in Redis until the visibility timeout; the event stays running.
        assert _status(event.pk) == "running"

    # Later, the running timeout has passed; a new worker runs and core's sweep finds the event.
    WebhookEvent.objects.filter(pk=event.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.CC_DURABLE_RUNNING_TIMEOUT + 1)
    )
    with payments_worker(pool="prefork", extra_args=HOOKS):
        assert durable.sweep() == {"payments.webhookevent": 1}
        wait_until(lambda: _status(event.pk) == "done", timeout=60, message="the swept event")
    event.refresh_from_db()
    assert len(_marker_pids(marker)) == 2 and event.attempts == 2
    assert TraceNode.objects.filter(trace_id=event.trace_id, kind="send", name=PAYMENT_SUCCEEDED).count() == 1


@pytest.mark.django_db(databases=[])
def test_worker_hooks_do_nothing_without_the_marker():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import commerce_coordinator.apps.payments.tests.worker_hooks as h; print(repr(h.MARKER))",
        ],
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if k != "PAYMENTS_TEST_MARKER"},
    )
    assert out.stdout.strip() == "''"
