"""Orders from payment signals to LMS enrollments (tasks in process): idempotency, retries, dead letter, refunds."""

import io
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from commerce_coordinator.apps.core import routing
from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import fulfillment
from commerce_coordinator.apps.lms.models import Order, OrderLine

from . import fake_payments
from .fake_payments import pay, refund

# Transactional: the tasks are queued on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)

A, B, C = "course-v1:edX+A+2026", "course-v1:edX+B+2026", "course-v1:edX+C+2026"


def test_receivers_take_the_payment_signals_arguments(routed):
    plan = routing.analyse(fake_payments.CC_SIGNALS)
    assert [p.msg for p in plan.all_problems() if p.id.startswith("core.E")] == []


def test_the_projects_routing_of_the_lms_signals_is_valid():
    plan = routing.analyse()
    lms = [s for s in plan.signals if ".lms." in s.path]
    assert len(lms) == 2
    assert all(not r.problems for s in lms for r in s.receivers)


def test_payment_succeeded_records_the_order_and_enrolls_every_line(fake_lms, routed):
    result = pay(keys=[A, B, C])
    assert result.ok, result.as_dict()
    order = Order.objects.get(order_number="ORD-1")
    assert order.status == Order.Status.FULFILLED and order.fulfilled_at
    assert (order.lms_user_id, order.provider, order.payment_id, str(order.amount), order.currency) == (
        42,
        "stripe",
        "pi_ORD-1",
        "49.00",
        "USD",
    )
    assert order.trace_ids == [result.trace_id]
    lines = list(order.lines.all())
    assert [(ln.course_run_key, ln.state, ln.attempts) for ln in lines] == [
        (A, "fulfilled", 1),
        (B, "fulfilled", 1),
        (C, "fulfilled", 1),
    ]
    assert all(ln.trace_id == result.trace_id for ln in lines)
    assert sorted(c["body"]["course_details"]["course_id"] for c in fake_lms.calls) == [A, B, C]
    assert [kind for kind, _ in routed] == ["completed"]
    assert routed[0][1]["course_run_keys"] == [A, B, C]
    # One trace tree: the payment send, the receiver, one task for the order's lines (one message) with a work
    # span per line under it, and the completion send.
    nodes = TraceNode.objects.filter(trace_id=result.trace_id)
    batch = nodes.get(kind="task", name="lms.process_lines", status="ok")
    receiver = nodes.get(kind="receiver", name="commerce_coordinator.apps.lms.receivers.fulfill_paid_order")
    assert {n.parent_id for n in nodes.filter(kind="task")} == {receiver.id}
    work = nodes.filter(kind="work", parent_id=batch.id, status="ok")
    assert sorted(work.values_list("name", flat=True)) == [f"lms.enroll {key}" for key in (A, B, C)]


def test_a_second_payment_succeeded_changes_nothing_and_calls_the_lms_no_more(fake_lms, routed):
    pay(keys=[A, B])
    second = pay(keys=[A, B])
    assert second.ok
    assert second.results[0].value == {"order_number": "ORD-1", "created": False, "queued": []}
    assert len(fake_lms.enroll_calls(A)) == 1 and len(fake_lms.enroll_calls(B)) == 1
    assert OrderLine.objects.count() == 2
    assert [kind for kind, _ in routed] == ["completed"]
    assert len(Order.objects.get().trace_ids) == 2  # both deliveries can be found


def test_an_lms_answering_503_for_a_while_is_retried_until_it_recovers(fake_lms, routed):
    fake_lms.then(503, times=3)
    pay(keys=[A])
    line = OrderLine.objects.get()
    assert line.state == "fulfilled"
    assert line.attempts == 4
    assert line.last_error == ""
    assert len(fake_lms.calls) == 4
    assert Order.objects.get().status == "fulfilled"


def test_timeouts_and_429_are_retried_too(fake_lms, routed):
    fake_lms.then(429, headers={"Retry-After": "0"}).then(200, delay=0.8)
    pay(keys=[A])
    line = OrderLine.objects.get()
    assert (line.state, line.attempts) == ("fulfilled", 3)


def test_retries_exhausted_dead_letter_the_line(fake_lms, routed):
    fake_lms.then(503, times=5)
    pay(keys=[A, B])  # A takes the 5 scripted 503s (1 + 4 retries); B then finds the LMS answering
    order = Order.objects.get()
    a, b = order.lines.all()
    assert (a.state, a.attempts, a.last_status_code) == ("failed", 5, 503)
    assert "LMS answered 503" in a.last_error and "retries exhausted after 5 attempts" in a.last_error
    assert (b.state, b.attempts) == ("fulfilled", 1)
    assert order.status == "failed"
    assert [(kind, kw["course_run_key"], kw["attempts"]) for kind, kw in routed] == [("failed", A, 5)]


def test_a_400_fails_the_line_at_once_and_retry_fulfillment_recovers_it(fake_lms, routed):
    fake_lms.then(400)
    pay(keys=[A, B])
    order = Order.objects.get()
    a, b = order.lines.all()
    assert (a.state, a.attempts, a.last_status_code) == ("failed", 1, 400)
    assert a.last_error.startswith("LMS answered 400: ")
    assert b.state == "fulfilled"
    assert order.status == "failed"
    assert [kind for kind, _ in routed] == ["failed"]
    assert routed[0][1] == {
        "order_number": "ORD-1",
        "lms_user_id": 42,
        "course_run_key": A,
        "action": "enroll",
        "attempts": 1,
        "error": a.last_error,
    }
    # The cause is fixed (the LMS now answers 200): one command re-queues the failed line.
    out = io.StringIO()
    call_command("retry_fulfillment", "ORD-1", stdout=out)
    text = out.getvalue()
    assert f"ORD-1 {A}: re-queued enroll (was failed)" in text
    assert f"ORD-1 {B}: nothing to do (fulfilled)" in text
    assert "Re-queued 1 line(s)" in text
    order.refresh_from_db()
    a.refresh_from_db()
    assert (a.state, a.attempts) == ("fulfilled", 2)
    assert order.status == "fulfilled"
    assert len(order.trace_ids) == 2
    [audit] = WorkAudit.objects.filter(item_type="lms.orderline", item_id=str(a.pk))
    assert audit.reason == "operator re-queue with manage.py retry_fulfillment" and audit.actor
    assert audit.outcome == "re-queued (was failed)" and audit.trace_id in order.trace_ids
    assert [kind for kind, _ in routed] == ["failed", "completed"]
    assert len(fake_lms.enroll_calls(B)) == 1


def test_a_retry_that_the_lms_refuses_again_leaves_the_order_failed(fake_lms, routed):
    """In process (tasks run at once), the re-run settles the order after the re-queue changed it."""
    fake_lms.then(400, times=2)
    pay(keys=[A])
    call_command("retry_fulfillment", "ORD-1", stdout=io.StringIO())
    line = OrderLine.objects.get()
    assert (line.state, line.attempts) == ("failed", 2)
    assert Order.objects.get().status == "failed"


def test_retry_fulfillment_failed_requeues_every_failed_line(fake_lms, routed):
    fake_lms.then(400, times=2)
    pay(order_number="ORD-1", keys=[A])
    pay(order_number="ORD-2", keys=[B])
    pay(order_number="ORD-3", keys=[C])
    assert OrderLine.objects.filter(status="failed").count() == 2
    out = io.StringIO()
    call_command("retry_fulfillment", "--failed", "--reason", "the LMS is fixed", stdout=out)
    assert set(WorkAudit.objects.values_list("reason", flat=True)) == {"the LMS is fixed"}
    assert "ORD-1" in out.getvalue() and "ORD-2" in out.getvalue() and "ORD-3" not in out.getvalue()
    assert set(Order.objects.values_list("status", flat=True)) == {"fulfilled"}


def test_retry_fulfillment_refuses_bad_arguments(db):
    with pytest.raises(CommandError):
        call_command("retry_fulfillment")
    with pytest.raises(CommandError, match="No such order: NOPE"):
        call_command("retry_fulfillment", "NOPE")
    with pytest.raises(CommandError, match="--reason"):
        call_command("retry_fulfillment", "--failed", "--reason", " ")


def test_payment_refunded_unenrolls_and_marks_the_order_refunded(fake_lms, routed):
    pay(keys=[A, B])
    result = refund(keys=[A, B])
    assert result.ok
    order = Order.objects.get()
    assert order.status == "refunded" and order.refunded_at and str(order.refunded_amount) == "49.00"
    assert {line.state for line in order.lines.all()} == {"refunded"}
    assert len(fake_lms.enroll_calls(active=False)) == 2
    # A second refund changes nothing.
    refund(keys=[A, B])
    assert len(fake_lms.enroll_calls(active=False)) == 2
    order.refresh_from_db()
    assert str(order.refunded_amount) == "49.00"


def test_a_partial_refund_unenrolls_only_its_lines_with_the_same_retry_rules(fake_lms, routed):
    pay(keys=[A, B])
    fake_lms.then(503, times=2)
    refund(keys=[B], amount="20.00", full=False)
    order = Order.objects.get()
    a, b = order.lines.all()
    assert a.state == "fulfilled"
    assert (b.state, b.attempts) == ("refunded", 4)  # 1 enroll + 3 unenroll attempts
    assert len(fake_lms.enroll_calls(B, active=False)) == 3
    assert (order.status, str(order.refunded_amount)) == ("partially_refunded", "20.00")


def test_unenroll_failure_is_dead_lettered_and_retryable(fake_lms, routed):
    pay(keys=[A])
    fake_lms.then(404)
    refund(keys=[])
    line = OrderLine.objects.get()
    assert line.state == "refund_failed"
    assert routed[-1][0] == "failed" and routed[-1][1]["action"] == "unenroll"
    out = io.StringIO()
    call_command("retry_fulfillment", "ORD-1", stdout=out)
    assert f"ORD-1 {A}: re-queued unenroll (was refund_failed)" in out.getvalue()
    line.refresh_from_db()
    assert line.state == "refunded"


def test_a_refund_for_an_unknown_order_calls_the_lms_for_nothing(fake_lms, routed):
    result = refund(order_number="NOPE", full=False)  # a partial refund of an order never paid: nothing to undo
    assert result.ok and result.results[0].value["refunded"] is False
    assert fake_lms.calls == []
    assert fulfillment.record_refund(order_number="NOPE2", course_run_keys=[]) == {
        "order_number": "NOPE2",
        "refunded": False,
        "reason": "unknown order",
    }


def test_a_duplicate_or_superseded_task_run_does_nothing(fake_lms, routed):
    from commerce_coordinator.apps.lms.tasks import process_line

    pay(keys=[A])
    line = OrderLine.objects.get()
    # A redelivered message of the finished task: the line is done.
    result = process_line.apply(args=[line.pk], task_id=line.claim_token).get()
    assert "not claimed: done" in result["skipped"]
    # A pending line whose token belongs to another task run: this run does not call the LMS.
    OrderLine.objects.filter(pk=line.pk).update(status="pending", claim_token="other")
    result = process_line.apply(args=[line.pk], task_id="stale").get()
    assert "held by another task run" in result["skipped"]
    assert len(fake_lms.calls) == 1


def test_lines_retry_on_the_lms_schedule(settings):
    settings.LMS_RETRY_SCHEDULE = [60, 600, 3600]
    policy = OrderLine.retry_policy()
    assert policy.schedule == (60, 600, 3600) and policy.max_attempts == 4


def test_the_default_schedule_spans_hours(settings):
    from commerce_coordinator.settings import base

    assert sum(base.LMS_RETRY_SCHEDULE) >= 6 * 3600


def test_a_broker_failure_leaves_the_line_pending_for_retry_fulfillment(fake_lms, routed):
    from commerce_coordinator.apps.lms.tasks import process_line

    with mock.patch.object(process_line, "apply_async", side_effect=ConnectionError("broker down")):
        pay(keys=[A])
    line = OrderLine.objects.get()
    assert line.state == "pending" and fake_lms.calls == []
    out = io.StringIO()
    call_command("retry_fulfillment", "ORD-1", stdout=out)
    assert "re-queued enroll (was pending)" in out.getvalue()
    line.refresh_from_db()
    assert line.state == "fulfilled"


def test_a_broker_failure_publishing_an_orders_lines_leaves_every_line_pending(fake_lms, routed):
    from commerce_coordinator.apps.lms.tasks import process_lines

    with mock.patch.object(process_lines, "apply_async", side_effect=ConnectionError("broker down")):
        pay(keys=[A, B])
    assert {line.state for line in OrderLine.objects.all()} == {"pending"} and fake_lms.calls == []
    call_command("retry_fulfillment", "ORD-1", stdout=io.StringIO())  # what the sweep would do, each line alone
    assert {line.state for line in OrderLine.objects.all()} == {"fulfilled"} and len(fake_lms.calls) == 2


def test_a_refund_before_the_batch_reaches_a_line_unenrolls_it_at_once_and_the_batch_calls_nothing(fake_lms, routed):
    from commerce_coordinator.apps.lms.tasks import process_lines

    with mock.patch.object(process_lines, "apply_async") as held:  # the order's batch, not delivered yet
        pay(keys=[A, B])
    refund(keys=[])  # the lines are still pending (a batch claims each only when it reaches it): never sent
    assert {(line.action, line.state) for line in OrderLine.objects.all()} == {("unenroll", "refunded")}
    process_lines.apply(args=held.call_args.kwargs["args"])  # the batch delivered late
    assert fake_lms.calls == []  # nothing to enroll, nothing to undo


def test_a_refund_before_its_payment_means_the_payment_enrolls_nobody(fake_lms, routed):
    refunded = refund(order_number="ORD-9", keys=[A])
    assert refunded.results[0].value["before_payment"] is True
    pay(order_number="ORD-9", keys=[A])
    order = Order.objects.get(order_number="ORD-9")
    assert order.status == "refunded" and not order.lines.exists()
    assert fake_lms.calls == []


def test_stalled_lines_are_found_by_cores_sweep_and_by_retry_fulfillment_stalled(fake_lms, routed, settings):
    from django.utils import timezone

    from commerce_coordinator.apps.core import durable
    from commerce_coordinator.apps.lms.tasks import process_line

    settings.CC_DURABLE_STALLED_AFTER = 60
    settings.CC_DURABLE_RUNNING_TIMEOUT = 120
    with mock.patch.object(process_line, "apply_async"):  # the publishes are lost
        pay(order_number="ORD-1", keys=[A])
        pay(order_number="ORD-2", keys=[B])
        pay(order_number="ORD-3", keys=[C])
    long_ago = timezone.now() - timezone.timedelta(minutes=5)
    # ORD-1: due long ago and never run; ORD-2: a run that died mid-call; ORD-3: due recently, not stalled.
    OrderLine.objects.filter(order__order_number="ORD-1").update(next_attempt_at=long_ago)
    OrderLine.objects.filter(order__order_number="ORD-2").update(
        status="running", claimed_at=long_ago, claim_token="dead"
    )
    assert sorted(OrderLine.stalled().values_list("order__order_number", flat=True)) == ["ORD-1", "ORD-2"]
    out = io.StringIO()
    call_command("retry_fulfillment", "--stalled", stdout=out)
    assert "ORD-1" in out.getvalue() and "ORD-2" in out.getvalue() and "ORD-3" not in out.getvalue()
    assert "re-queued enroll (was pending)" in out.getvalue()
    assert dict(Order.objects.values_list("order_number", "status")) == {
        "ORD-1": "fulfilled",
        "ORD-2": "fulfilled",
        "ORD-3": "fulfilling",
    }
    OrderLine.objects.filter(order__order_number="ORD-3").update(next_attempt_at=long_ago)
    assert durable.sweep() == {"lms.orderline": 1}  # core's generic sweep, on beat every CC_DURABLE_SWEEP_INTERVAL
    assert Order.objects.get(order_number="ORD-3").status == "fulfilled"


def test_a_value_the_database_refuses_is_an_error_not_a_silent_duplicate(fake_lms, routed):
    result = pay(order_number="ORD-NEG", user=-5)
    assert not result.ok and result.results[0].status == "error"
    assert not Order.objects.filter(order_number="ORD-NEG").exists()
    assert fake_lms.calls == []


def test_no_lms_sweep_of_its_own_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "core.sweep_durable_work" in tasks and not any(t.startswith("lms.") for t in tasks)
