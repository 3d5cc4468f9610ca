"""A real Celery worker on Redis runs a task receiver, and its node joins the trace of the send."""

import pytest

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.demo_lms.signals import test_celery_signal

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]


def test_task_receiver_runs_in_worker_and_joins_the_senders_trace(celery_worker):
    result = test_celery_signal.send("test", message="via redis")
    [queued] = result.results
    assert queued.status == "queued" and queued.task_id

    task_node = wait_until(
        lambda: TraceNode.objects.filter(trace_id=result.trace_id, kind="task").first(),
        message="the worker's task node",
    )
    send_node = TraceNode.objects.get(trace_id=result.trace_id, kind="send")
    receiver_node = TraceNode.objects.get(trace_id=result.trace_id, kind="receiver")
    assert receiver_node.parent_id == send_node.id
    assert task_node.parent_id == receiver_node.id
    assert task_node.task_id == queued.task_id
    assert task_node.status == "ok"
    assert "via redis" in task_node.result
    assert f"[trace={result.trace_id}]" in celery_worker.log()
