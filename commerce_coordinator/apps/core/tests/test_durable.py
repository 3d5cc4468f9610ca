"""Durable work items (core.durable) on a test-only item model: the claim rule, outcomes, the policy,
the sweep, operator re-queues with an audit row, and what the traces say about each."""

import os
import signal
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.test import TestCase, override_settings
from django.utils import timezone

from commerce_coordinator.apps.core import durable, retries, testing, tracing
from commerce_coordinator.apps.core.models import Trace, TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.core.tests.workapp import tasks
from commerce_coordinator.apps.core.tests.workapp.models import DEAD_LETTERS, DemoItem
from commerce_coordinator.apps.core.tests.workapp.tasks import call_url

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
Status = durable.WorkStatus


def _item(**fields):
    return DemoItem.objects.create(**fields)


# --- the claim rule ----------------------------------------------------------------------------


def test_a_pending_item_is_taken_by_its_own_task_only():
    item = _item(claim_token="task-a")
    assert DemoItem.claim(item.pk, "task-b") is None  # a stale or duplicate task: refused
    claimed = DemoItem.claim(item.pk, "task-a")
    assert (claimed.status, claimed.attempts, claimed.claim_token) == (Status.RUNNING, 1, "task-a")


def test_a_redelivered_task_retakes_its_running_item_at_once_and_no_other_task_can():
    item = _item(claim_token="task-a")
    DemoItem.claim(item.pk, "task-a")
    assert DemoItem.claim(item.pk, "task-b") is None  # a second, concurrent task never runs it
    again = DemoItem.claim(item.pk, "task-a")  # the broker redelivered the killed worker's task
    assert again is not None and again.attempts == 2


def test_an_item_with_no_token_yet_goes_to_the_first_task_that_claims_it():
    item = _item()
    assert DemoItem.claim(item.pk, "first") is not None
    assert DemoItem.claim(item.pk, "second") is None
    assert DemoItem.claim(item.pk, "") is None


def test_items_stored_by_this_process_are_claimed_in_one_update_each_under_its_own_token():
    mine = [_item(claim_token=f"t{n}") for n in range(3)]
    other = _item(claim_token="t9")
    done = _item(claim_token="t8", status=Status.DONE)
    claimed = durable.claim_many(DemoItem, ["t0", "t1", "t2", "t8", "", "gone"])
    assert [i.pk for i in claimed] == [i.pk for i in mine] and {i.status for i in claimed} == {Status.RUNNING}
    assert DemoItem.claim(mine[0].pk, "someone-else") is None  # the claim rule holds
    assert DemoItem.claim(mine[0].pk, "t0") is not None  # its own task would retake it
    assert DemoItem.objects.get(pk=other.pk).status == Status.PENDING
    assert DemoItem.objects.get(pk=done.pk).status == Status.DONE and durable.claim_many(DemoItem, []) == []


def _answers(*answers):
    """An HTTP handler answering (body, status) pairs in turn."""
    pending = iter(answers)

    def handler(request):
        from werkzeug import Response

        body, status = next(pending)
        return Response(body, status=status)

    return handler


@override_settings(DEMO_ITEM_RETRY_SCHEDULE=[0.01])
def test_an_item_run_in_process_is_done_or_hands_its_retry_to_its_own_task(httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/flaky").respond_with_handler(_answers(("down", 503), ("back", 200)))
    ok = _item(url=httpserver.url_for("/ok"), claim_token="a")
    flaky = _item(url=httpserver.url_for("/flaky"), claim_token="b")
    with tracing.trace():
        outcomes = [durable.run_in_process(item, call_url) for item in durable.claim_many(DemoItem, ["a", "b"])]
    assert outcomes[0]["status"] == Status.DONE and outcomes[1]["status"] == Status.RETRY
    ok.refresh_from_db(), flaky.refresh_from_db()
    assert ok.status == Status.DONE
    # The retry went to the item's own task (eager here) under a fresh token, and succeeded.
    assert (flaky.status, flaky.attempts, flaky.calls) == (Status.DONE, 2, 2) and flaky.claim_token != "b"


@override_settings(DEMO_ITEM_RETRY_SCHEDULE=[0.01])
def test_a_batch_runs_each_item_as_its_own_task_would_and_its_node_tells_the_worst(httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/gone").respond_with_data("no such thing", status=404)
    httpserver.expect_request("/flaky").respond_with_handler(_answers(("down", 503), ("back", 200)))
    ok = _item(url=httpserver.url_for("/ok"), claim_token="a")
    gone = _item(url=httpserver.url_for("/gone"), claim_token="b")
    flaky = _item(url=httpserver.url_for("/flaky"), claim_token="c")
    done = _item(url=httpserver.url_for("/ok"), claim_token="d", status=Status.DONE)
    retaken = DemoItem.claim(_item(url=httpserver.url_for("/ok"), claim_token="e").pk, "e")  # a killed run's
    taken = DemoItem.claim(_item(url=httpserver.url_for("/ok"), claim_token="f").pk, "f")
    items = [[ok.pk, "a"], [gone.pk, "b"], [flaky.pk, "c"], [done.pk, "d"], [retaken.pk, "e"], [taken.pk, "other"]]
    with tracing.trace() as ctx:
        with tracing.span("task", "core_workapp.run_demo_items") as node:
            outcomes = durable.run_batch(DemoItem, items, tasks.run_one_demo_item)
        trace_id = ctx.trace_id
    assert [outcomes[pk].get("status") for pk, _ in items[:3]] == [Status.DONE, Status.FAILED, Status.RETRY]
    assert "skipped" in outcomes[done.pk] and "skipped" in outcomes[taken.pk]  # finished / held by another run
    assert outcomes[retaken.pk]["status"] == Status.DONE  # the redelivered batch retook the item it was running
    rows = {i.pk: i for i in DemoItem.objects.all()}
    assert (rows[ok.pk].calls, rows[gone.pk].status, rows[taken.pk].calls) == (1, Status.FAILED, 0)
    # The flaky item's retry went to its own task (eager here) under a fresh token, and succeeded.
    assert (rows[flaky.pk].status, rows[flaky.pk].calls) == (Status.DONE, 2) and rows[flaky.pk].claim_token != "c"
    assert node.status == tracing.ERROR and "2 of 6 item(s) not done" in node.error_message  # never "ok"
    ok_work = TraceNode.objects.filter(trace_id=trace_id, kind="work", status="ok").values_list("name", flat=True)
    assert sorted(ok_work) == sorted(f"core_workapp.demoitem:{pk}" for pk in (ok.pk, flaky.pk, retaken.pk))


def test_items_published_together_go_in_one_message_and_an_item_alone_as_its_own_task(
    httpserver, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/ok").respond_with_data("fine")
    pair = [_item(url=httpserver.url_for("/ok"), claim_token=t) for t in ("p", "q")]
    alone = _item(url=httpserver.url_for("/ok"), claim_token="r")
    with mock.patch.object(tasks.run_demo_items, "apply_async", wraps=tasks.run_demo_items.apply_async) as batch:
        with mock.patch.object(tasks.run_demo_item, "apply_async", wraps=tasks.run_demo_item.apply_async) as single:
            with django_capture_on_commit_callbacks(execute=True):
                durable.publish_batch_on_commit(DemoItem, [(i.pk, i.claim_token) for i in pair])
                durable.publish_batch_on_commit(DemoItem, [(alone.pk, alone.claim_token)])
    assert batch.call_count == 1 and batch.call_args.kwargs["args"] == [[[i.pk, i.claim_token] for i in pair]]
    assert single.call_count == 1 and single.call_args.kwargs["task_id"] == "r"
    assert set(DemoItem.objects.values_list("status", flat=True)) == {Status.DONE}


def test_finished_and_failed_items_are_never_claimed_again():
    done = _item(status=Status.DONE, claim_token="t")
    failed = _item(status=Status.FAILED, claim_token="t")
    assert DemoItem.claim(done.pk, "t") is None and DemoItem.claim(failed.pk, "t") is None


def test_a_late_finish_of_a_run_that_lost_its_item_changes_nothing():
    stale_run = DemoItem.claim(_item(claim_token="old").pk, "old")
    DemoItem.objects.get(pk=stale_run.pk).enqueue()  # an operator re-queued it meanwhile: a fresh token
    assert stale_run.finish() is False
    assert stale_run.dead_letter("too late") is False
    assert DemoItem.objects.get(pk=stale_run.pk).status == Status.PENDING


# --- the retry policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc, retryable",
    [
        (ConnectionError("refused"), True),
        (TimeoutError("slow"), True),
        (retries.WorkError("x", status_code=503), True),
        (retries.WorkError("x", status_code=429), True),
        (retries.WorkError("x", status_code=400), False),
        (retries.RetryableError("x", status_code=400), True),
        (retries.PermanentError("x", status_code=503), False),
        (ValueError("a bug"), False),
    ],
)
def test_one_classification_of_failures(exc, retryable):
    assert retries.is_retryable(exc) is retryable


@override_settings(DEMO_ITEM_RETRY_SCHEDULE=[10, 100], CC_RETRY_JITTER=0.25, CC_RETRY_AFTER_MAX=60)
def test_the_policy_jitters_its_delays_honours_a_longer_retry_after_and_ends():
    policy = DemoItem.retry_policy()
    assert policy.max_attempts == 3
    assert 7.5 <= policy.countdown(1) <= 12.5
    assert 75 <= policy.countdown(2) <= 125
    assert policy.countdown(3) is None
    assert policy.countdown(1, retry_after=50) == 50
    assert policy.countdown(1, retry_after=5000) == 60  # capped


# --- running items: outcomes and what the trace says --------------------------------------------


def _run(item):
    with TestCase.captureOnCommitCallbacks(execute=True), tracing.trace() as ctx:
        item.enqueue()
        trace_id = ctx.trace_id
    return trace_id, DemoItem.objects.get(pk=item.pk)


def _trace(trace_id):
    return Trace.objects.with_status().filter(trace_id=trace_id)


def test_a_successful_item_is_done_and_its_trace_is_ok_with_its_business_keys(httpserver, client, admin_user):
    httpserver.expect_request("/ok").respond_with_data("fine")
    trace_id, item = _run(_item(url=httpserver.url_for("/ok"), order_number="ORD-DURABLE-1"))
    assert (item.status, item.attempts, item.calls) == (Status.DONE, 1, 1)
    work = TraceNode.objects.get(trace_id=trace_id, kind="work")
    assert work.status == "ok" and "fine" in work.result
    client.force_login(admin_user)
    found = client.get("/core/traces/", {"order": "ORD-DURABLE-1"}).json()["results"]
    assert [t["trace_id"] for t in found] == [trace_id]


def test_a_permanent_failure_dead_letters_the_item_and_the_trace_says_error(httpserver, client, admin_user):
    DEAD_LETTERS.clear()
    httpserver.expect_request("/refuse").respond_with_data("no such course", status=400)
    trace_id, item = _run(_item(url=httpserver.url_for("/refuse"), order_number="ORD-DURABLE-2"))
    assert (item.status, item.last_status_code, item.attempts) == (Status.FAILED, 400, 1)
    assert "answered 400: no such course" in item.last_error
    assert DEAD_LETTERS == [(item.pk, item.last_error)]
    work = TraceNode.objects.get(trace_id=trace_id, kind="work")
    assert work.status == "error" and "answered 400" in work.error_message
    assert work.error_type == "WorkError" and "raise retries.WorkError" in work.traceback  # what raised, unfoldable
    client.force_login(admin_user)
    listed = client.get("/core/traces/", {"status": "error", "order": "ORD-DURABLE-2"}).json()["results"]
    assert [t["trace_id"] for t in listed] == [trace_id]
    detail = client.get(f"/core/traces/{trace_id}/").json()
    assert detail["status"] == "error" and detail["keys"] == {"order_number": ["ORD-DURABLE-2"]}


def test_a_retryable_failure_records_a_retry_node_with_the_next_attempt_then_succeeds(httpserver):
    answers = iter([("down", 503), ("back", 200)])

    def handler(request):
        from werkzeug import Response

        body, status = next(answers)
        return Response(body, status=status)

    httpserver.expect_request("/flaky").respond_with_handler(handler)
    trace_id, item = _run(_item(url=httpserver.url_for("/flaky")))
    assert (item.status, item.attempts, item.calls) == (Status.DONE, 2, 2)
    works = list(TraceNode.objects.filter(trace_id=trace_id, kind="work").order_by("started_at"))
    assert [w.status for w in works] == ["retry", "ok"]
    assert works[0].attempt == 1 and works[0].next_attempt_at is not None and "503" in works[0].error_message


def test_a_trace_with_a_pending_retry_is_listed_as_retry(client, admin_user):
    with tracing.span("work", "something", order_number="ORD-R") as node:
        node.outcome("retry", "the LMS answered 503", attempt=1, next_attempt_at=timezone.now())
    client.force_login(admin_user)
    [listed] = client.get("/core/traces/", {"status": "retry"}).json()["results"]
    assert listed["status"] == "retry" and listed["name"] == "something"


@override_settings(DEMO_ITEM_RETRY_SCHEDULE=[0.01, 0.01])
def test_retries_end_in_a_dead_letter_when_the_schedule_is_spent(httpserver):
    DEAD_LETTERS.clear()
    httpserver.expect_request("/down").respond_with_data("down", status=503)
    trace_id, item = _run(_item(url=httpserver.url_for("/down")))
    assert (item.status, item.attempts) == (Status.FAILED, 3)
    assert "retries exhausted after 3 attempts" in item.last_error
    assert [pk for pk, _ in DEAD_LETTERS] == [item.pk]
    assert _trace(trace_id).get().trace_status == "error"


# --- the sweep and operator re-queues -----------------------------------------------------------


def test_the_sweep_finds_items_whose_task_was_lost_and_runs_them(httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    long_ago = timezone.now() - timedelta(hours=1)
    lost = _item(url=httpserver.url_for("/ok"), claim_token="lost-task", next_attempt_at=long_ago)
    dead_run = _item(url=httpserver.url_for("/ok"), status=Status.RUNNING, claim_token="dead", claimed_at=long_ago)
    fresh = _item(url=httpserver.url_for("/ok"), claim_token="queued", next_attempt_at=timezone.now())
    assert set(DemoItem.stalled()) == {lost, dead_run}
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert durable.sweep() == {"core_workapp.demoitem": 2}
    assert DemoItem.objects.get(pk=lost.pk).status == Status.DONE
    assert DemoItem.objects.get(pk=dead_run.pk).status == Status.DONE
    assert DemoItem.objects.get(pk=fresh.pk).status == Status.PENDING


def test_the_sweep_leaves_an_item_that_a_task_claimed_after_the_sweep_found_it():
    """The sweep reads its stalled items, then takes each back with enqueue(only_if=stalled()): a task (a late
    message, an in-place run) that claimed one in between keeps it; taking it back would run the side effect twice
    and refuse that task's finish."""
    long_ago = timezone.now() - timedelta(hours=1)
    late = _item(url="sleep:0", claim_token="late-task", next_attempt_at=long_ago)
    lost = _item(url="sleep:0", claim_token="lost-task", next_attempt_at=long_ago)
    seen_late, seen_lost = DemoItem.stalled().order_by("pk")  # what the sweep read
    assert DemoItem.claim(late.pk, "late-task") is not None  # the task arrives between the read and the take-back
    with mock.patch.object(durable, "publish") as published, TestCase.captureOnCommitCallbacks(execute=True):
        assert seen_late.enqueue(only_if=DemoItem.stalled()) == ""
        assert seen_lost.enqueue(only_if=DemoItem.stalled()) != ""
    late.refresh_from_db(), lost.refresh_from_db()
    assert (late.status, late.claim_token) == (Status.RUNNING, "late-task")  # kept by the task that claimed it
    assert lost.status == Status.PENDING and lost.claim_token not in ("lost-task", "")
    assert [c.args[1] for c in published.call_args_list] == [lost.pk]


def test_an_operator_requeue_runs_the_item_again_and_writes_an_audit_row(httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    item = _item(url=httpserver.url_for("/ok"), status=Status.FAILED, last_error="LMS answered 400", order_number="O-9")
    with pytest.raises(ValueError):
        item.requeue("alice", "  ")
    with TestCase.captureOnCommitCallbacks(execute=True):
        audit = item.requeue("alice", "the course run exists now")
    item.refresh_from_db()
    assert item.status == Status.DONE
    assert (audit.actor, audit.action, audit.reason) == ("alice", "retry", "the course run exists now")
    assert audit.outcome == "re-queued (was failed)" and audit.trace_id
    assert WorkAudit.objects.get(item_type="core_workapp.demoitem", item_id=str(item.pk)) == audit
    operator = TraceNode.objects.get(trace_id=audit.trace_id, kind="operator")
    assert operator.sender == "alice" and TraceNode.objects.filter(trace_id=audit.trace_id, kind="work").exists()


# --- on a real worker: a killed pool child's task is redelivered and retakes its item at once -------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_a_killed_worker_child_is_redelivered_and_retakes_its_item_at_once():
    with testing.celery_worker(pool="prefork", extra_args=[]) as worker:
        item = _item(url="sleep:3")
        item.enqueue()
        wait_until(lambda: DemoItem.objects.get(pk=item.pk).status == Status.RUNNING, message="the run to start")
        child = wait_until(lambda: worker.pool_child_pid(), message="the pool child")
        killed_at = time.monotonic()
        os.kill(child, signal.SIGKILL)
        wait_until(
            lambda: DemoItem.objects.get(pk=item.pk).status == Status.DONE, timeout=60, message="the redelivered task"
        )
        recovered_in = time.monotonic() - killed_at
    item.refresh_from_db()
    assert item.calls == 1  # the side effect happened once
    assert item.attempts == 2  # the redelivered task retook its own item
    assert recovered_in < 30  # at once: not after CC_DURABLE_RUNNING_TIMEOUT and a sweep


@pytest.mark.redis
@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_a_worker_reusing_its_connections_survives_the_database_dropping_one():
    """Workers keep connections across tasks (CELERY_DB_REUSE_MAX); one the server closed is reopened."""
    from django.db import connection

    with testing.celery_worker():
        first = _item(url="sleep:0")
        first.enqueue()
        wait_until(lambda: DemoItem.objects.get(pk=first.pk).status == Status.DONE, message="the first item")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id != CONNECTION_ID()"
            )
            worker_connections = [row[0] for row in cursor.fetchall()]
            assert worker_connections, "the worker keeps its connection between tasks"
            for connection_id in worker_connections:
                cursor.execute(f"KILL {int(connection_id)}")
        second = _item(url="sleep:0")
        second.enqueue()
        wait_until(lambda: DemoItem.objects.get(pk=second.pk).status == Status.DONE, timeout=20, message="the second")


@override_settings(DEMO_ITEM_RETRY_SCHEDULE=[0.01] * 6)
def test_the_items_policy_not_celerys_default_decides_the_number_of_retries(httpserver):
    httpserver.expect_request("/down").respond_with_data("down", status=503)
    _trace_id, item = _run(_item(url=httpserver.url_for("/down")))
    assert (item.status, item.attempts) == (Status.FAILED, 7)  # Celery's default max_retries is 3


def test_a_task_published_outside_any_trace_joins_the_items_trace(httpserver):
    from commerce_coordinator.apps.core.tests.workapp.tasks import run_demo_item

    httpserver.expect_request("/ok").respond_with_data("fine")
    item = _item(url=httpserver.url_for("/ok"), trace_id="b" * 32, claim_token="t1")
    run_demo_item.apply(args=[item.pk], task_id="t1")
    assert TraceNode.objects.filter(trace_id="b" * 32, kind="work", status="ok").exists()


def test_a_thread_pool_takes_work_only_on_a_free_thread_and_is_one_per_process_and_name():
    pool = durable.thread_pool("test-pool", 2)
    assert durable.thread_pool("test-pool", 2) is pool and durable.thread_pool("test-pool", 1) is None
    release = threading.Event()
    busy = [pool.try_submit(release.wait, 5) for _ in range(2)]
    assert pool.try_submit(release.wait, 5) is None  # both threads taken: the caller runs it itself
    release.set()
    assert [future.result(5) for future in busy] == [True, True]
    # A finished call frees its thread just after its result is set: the pool takes work again soon after.
    again = wait_until(lambda: pool.try_submit(lambda: "free again"), timeout=5, message="a thread freed")
    assert again.result(5) == "free again"


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_items_of_a_batch_run_apart_only_outside_a_transaction_and_not_on_sqlite():
    from django.db import connections, transaction

    assert durable.runs_apart(DemoItem) is (connections["default"].vendor != "sqlite")
    with transaction.atomic():
        assert durable.runs_apart(DemoItem) is False  # the pool's connections could not see these rows
