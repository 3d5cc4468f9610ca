"""Follow-ups in place (core.follow_ups, ADR 0074): what a task stores for its own queue runs after it in the same
worker, claimed and traced as its batch task would; anything routed elsewhere, or an eager run, is published."""

from unittest import mock

import pytest
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from commerce_coordinator.apps.core import durable, follow_ups, tracing
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.workapp import tasks
from commerce_coordinator.apps.core.tests.workapp.models import DemoItem

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
Status = durable.WorkStatus


class RunningTask:
    """What `in_place` reads of a task run in a worker: its name and its request (an id, not eager)."""

    name = "payments.process_webhook_events"

    def __init__(self, task_id="webhook-task-1", eager=False):
        self.request = type("Request", (), {"id": task_id, "is_eager": eager})()


@pytest.fixture
def one_queue(monkeypatch):
    """Every task routed to one queue (the bench's and a single-queue deployment's routing)."""
    monkeypatch.setattr(follow_ups, "queue_of", lambda name: "the-queue")


@pytest.fixture
def published():
    with mock.patch.object(tasks.run_demo_items, "apply_async") as batch:
        with mock.patch.object(tasks.run_demo_item, "apply_async") as single:
            yield batch, single


def _store_and_publish(httpserver, capture, tokens_per_publish):
    """Items stored and published in a transaction of the running task's work (as lms.fulfill_paid_order does)."""
    httpserver.expect_request("/ok").respond_with_data("fine")
    stored = []
    with tracing.span("work", "the event's processing"), capture(execute=True):
        for tokens in tokens_per_publish:
            items = [DemoItem.objects.create(url=httpserver.url_for("/ok"), claim_token=t) for t in tokens]
            durable.publish_batch_on_commit(DemoItem, [(i.pk, i.claim_token) for i in items])
            stored += items
    return stored


def test_items_for_the_tasks_own_queue_run_in_place_after_its_work_and_nothing_is_published(
    httpserver, one_queue, published, django_capture_on_commit_callbacks
):
    with tracing.trace() as ctx:
        with follow_ups.in_place(RunningTask()) as collector:
            stored = _store_and_publish(httpserver, django_capture_on_commit_callbacks, [("p", "q"), ("r",)])
            assert len(collector.pending) == 2  # committed, waiting for the task's work to end
            assert set(DemoItem.objects.values_list("status", flat=True)) == {Status.PENDING}
    batch, single = published
    assert batch.call_count == 0 and single.call_count == 0  # no trip through the broker
    rows = {i.pk: i for i in DemoItem.objects.all()}
    assert {(rows[i.pk].status, rows[i.pk].calls, rows[i.pk].claim_token) for i in stored} == {
        (Status.DONE, 1, t) for t in ("p", "q", "r")
    }  # each claimed under its own token, once
    nodes = TraceNode.objects.filter(trace_id=ctx.trace_id)
    runs = list(nodes.filter(kind="task", name="core_workapp.run_demo_items"))
    assert len(runs) == 2 and all(n.status == "ok" and n.result.startswith("in place") for n in runs)
    parent = nodes.get(kind="work", name="the event's processing")
    assert {n.parent_id for n in runs} == {parent.id}  # under the node that stored them, as a message would be
    assert nodes.filter(kind="work", name__startswith="core_workapp.demoitem:", status="ok").count() == 3


@pytest.mark.parametrize(
    "why", ["another queue", "switched off", "an eager run"], ids=["routed-elsewhere", "setting-off", "eager"]
)
def test_items_are_published_when_their_task_goes_to_another_queue_or_in_place_is_off(
    why, httpserver, monkeypatch, published, django_capture_on_commit_callbacks
):
    elsewhere = why == "another queue"
    monkeypatch.setattr(
        follow_ups, "queue_of", lambda name: "payments" if elsewhere and name == RunningTask.name else "q"
    )
    with override_settings(CC_FOLLOW_UPS_IN_PLACE=why != "switched off"), tracing.trace():
        with follow_ups.in_place(RunningTask(eager=why == "an eager run")):
            _store_and_publish(httpserver, django_capture_on_commit_callbacks, [("p", "q"), ("r",)])
    batch, single = published
    assert batch.call_count == 1 and single.call_count == 1  # as before: one batch message, one single task
    assert set(DemoItem.objects.values_list("status", flat=True)) == {Status.PENDING}


def test_a_failure_of_the_in_place_run_is_traced_as_an_error_and_leaves_its_items_to_the_sweep(
    httpserver, one_queue, published, django_capture_on_commit_callbacks
):
    with tracing.trace() as ctx, mock.patch.object(tasks.run_demo_items, "run", side_effect=RuntimeError("db gone")):
        with follow_ups.in_place(RunningTask()):
            stored = _store_and_publish(httpserver, django_capture_on_commit_callbacks, [("p", "q")])
    run = TraceNode.objects.get(trace_id=ctx.trace_id, kind="task", name="core_workapp.run_demo_items")
    assert run.status == "error" and "the sweep will run its items" in run.error_message  # never "ok"
    assert {i.status for i in DemoItem.objects.filter(pk__in=[i.pk for i in stored])} == {Status.PENDING}


def test_outside_a_task_run_items_are_published(httpserver, one_queue, published, django_capture_on_commit_callbacks):
    with tracing.trace():
        _store_and_publish(httpserver, django_capture_on_commit_callbacks, [("p", "q")])
    assert published[0].call_count == 1


def test_after_the_in_place_budget_the_rest_is_published_as_it_would_have_been(
    httpserver, one_queue, published, django_capture_on_commit_callbacks
):
    """A slow LMS must not hold one message's worker thread for long: past CC_FOLLOW_UPS_IN_PLACE_SECONDS the
    collected items go to the broker (here the budget is spent before the first)."""
    with override_settings(CC_FOLLOW_UPS_IN_PLACE_SECONDS=0), tracing.trace():
        with follow_ups.in_place(RunningTask()) as collector:
            stored = _store_and_publish(httpserver, django_capture_on_commit_callbacks, [("p", "q"), ("r",)])
    batch, single = published
    assert collector.pending == [] and batch.call_count == 1 and single.call_count == 1
    assert batch.call_args.kwargs["args"] == [[[stored[0].pk, "p"], [stored[1].pk, "q"]]]
    assert single.call_args.kwargs["task_id"] == "r"
    assert set(DemoItem.objects.values_list("status", flat=True)) == {Status.PENDING}


@pytest.mark.parametrize("case", ["too-many-items", "single-routed-elsewhere"])
def test_a_batch_too_large_or_a_single_item_whose_own_task_goes_elsewhere_is_published(
    case, httpserver, monkeypatch, published, django_capture_on_commit_callbacks
):
    """An order of many lines would hold the task too long; one item travels as its own task, whose route decides."""
    own_task = tasks.run_demo_item.name
    elsewhere = {own_task} if case == "single-routed-elsewhere" else set()
    monkeypatch.setattr(follow_ups, "queue_of", lambda name: "lms" if name in elsewhere else "q")
    tokens = [("p", "q", "r")] if case == "too-many-items" else [("s",)]
    with override_settings(CC_FOLLOW_UPS_IN_PLACE_MAX_ITEMS=2), tracing.trace():
        with follow_ups.in_place(RunningTask()) as collector:
            _store_and_publish(httpserver, django_capture_on_commit_callbacks, tokens)
            assert collector.pending == []
    batch, single = published
    assert (batch.call_count, single.call_count) == ((1, 0) if case == "too-many-items" else (0, 1))


def _store_with_instances(httpserver, capture, tokens):
    """As _store_and_publish, handing over the items as stored (as lms.create_lines does)."""
    httpserver.expect_request("/ok").respond_with_data("fine")
    with tracing.span("work", "the event's processing"), capture(execute=True):
        items = [DemoItem.objects.create(url=httpserver.url_for("/ok"), claim_token=t) for t in tokens]
        durable.publish_batch_on_commit(DemoItem, [(i.pk, i.claim_token) for i in items], instances=items)
    return items


def test_items_handed_over_as_stored_are_claimed_in_place_without_being_read_again(
    httpserver, one_queue, published, django_capture_on_commit_callbacks
):
    table = DemoItem._meta.db_table
    with tracing.trace(), CaptureQueriesContext(connections["default"]) as queries:
        with follow_ups.in_place(RunningTask()):
            stored = _store_with_instances(httpserver, django_capture_on_commit_callbacks, ["k1", "k2"])
            before = len(queries.captured_queries)
    after = [q["sql"] for q in queries.captured_queries[before:] if table in q["sql"]]
    assert [sql.split()[0] for sql in after] == ["UPDATE"] * 6  # a claim, the work's own and a finish: no SELECT
    rows = {i.pk: i for i in DemoItem.objects.all()}
    assert {(rows[i.pk].status, rows[i.pk].attempts, rows[i.pk].calls) for i in stored} == {(Status.DONE, 1, 1)}


def test_an_item_given_a_new_token_after_it_was_stored_is_not_claimed_in_place(
    httpserver, one_queue, published, django_capture_on_commit_callbacks
):
    with tracing.trace():
        with follow_ups.in_place(RunningTask()):
            (item,) = _store_with_instances(httpserver, django_capture_on_commit_callbacks, ["old"])
            DemoItem.objects.filter(pk=item.pk).update(claim_token="requeued")  # e.g. an operator's requeue
    row = DemoItem.objects.get(pk=item.pk)
    assert (row.status, row.claim_token, row.attempts, row.calls) == (Status.PENDING, "requeued", 0, 0)
    assert durable._known.items == {}  # nothing held on to after the task
