"""A real Celery worker on Redis runs a task receiver, and its node joins the trace of the send."""

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, order_placed

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]

ROUTES = {
    PREFIX + "order_placed": [PREFIX + "record", PREFIX + "record_task", PREFIX + "failing_task"],
    PREFIX + "nested_signal": [PREFIX + "nested_receiver"],
}


def task_node(trace_id, task_id):
    return TraceNode.objects.filter(trace_id=trace_id, kind="task", task_id=task_id, status__in=["ok", "error"]).first()


@override_settings(CC_SIGNALS=ROUTES)
def test_task_receiver_runs_in_worker_and_joins_the_senders_trace(celery_worker):
    result = order_placed.send("test", order_number="W-1", count=2)
    in_process, queued, failing = result.results
    assert in_process.status == "ok"
    assert queued.status == "queued" and queued.task_id

    node = wait_until(lambda: task_node(result.trace_id, queued.task_id), message="the worker's task node")
    send_node = TraceNode.objects.get(trace_id=result.trace_id, kind="send")
    receiver_node = TraceNode.objects.get(trace_id=result.trace_id, kind="receiver", name=PREFIX + "record_task")
    assert receiver_node.parent_id == send_node.id
    assert node.parent_id == receiver_node.id
    assert node.status == "ok"
    assert "task recorded W-1" in node.result

    failed = wait_until(lambda: task_node(result.trace_id, failing.task_id), message="the failing task's node")
    assert failed.status == "error"
    assert failed.error_type == "ValueError"
    assert "task failed on purpose" in failed.error_message
    assert f"[trace={result.trace_id}]" in celery_worker.log()
