"""MariaDB: lines of one order finishing at the same moment complete the order exactly once, without deadlock."""

import collections
import threading
from unittest import mock

import pytest
from django.db import connections, transaction

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import fulfillment
from commerce_coordinator.apps.lms.clients import EnrollmentResult, LmsError
from commerce_coordinator.apps.lms.models import Order, OrderLine
from commerce_coordinator.apps.lms.tasks import process_line, process_lines

from .fake_payments import pay

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]

KEYS = [f"course-v1:edX+C{i}+2026" for i in range(4)]


def test_lines_finishing_together_complete_the_order_once(routed):
    for round_ in range(5):
        with mock.patch.object(process_lines, "apply_async"):  # the order's lines queued, run by the threads below
            pay(order_number=f"RACE-{round_}", keys=KEYS)
        lines = list(OrderLine.objects.filter(order__order_number=f"RACE-{round_}"))
        barrier = threading.Barrier(len(lines))
        errors = []

        class Client:
            def set_enrollment(self, barrier=barrier, **kwargs):
                barrier.wait(10)  # every line is past its claim and calls "the LMS" at once
                return EnrollmentResult(200, {})

        def run(line, errors=errors):
            try:
                result = process_line.apply(args=[line.pk], task_id=line.claim_token)
                if result.failed():
                    errors.append(result.result)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        with mock.patch.object(fulfillment, "get_client", return_value=Client()):
            threads = [threading.Thread(target=run, args=(line,)) for line in lines]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        assert errors == []
        order = Order.objects.get(order_number=f"RACE-{round_}")
        assert order.status == "fulfilled"
        assert {line.state for line in order.lines.all()} == {"fulfilled"}
    completed = [kw["order_number"] for kind, kw in routed if kind == "completed"]
    assert sorted(completed) == [f"RACE-{i}" for i in range(5)]


def test_an_orders_lines_call_the_lms_at_the_same_time_within_its_trace(routed):
    barrier = threading.Barrier(3, timeout=5)  # broken (each call fails) unless the three calls are made at once
    threads = set()

    class Client:
        def set_enrollment(self, **kwargs):
            threads.add(threading.get_ident())
            barrier.wait()
            return EnrollmentResult(200, {})

    with mock.patch.object(fulfillment, "get_client", return_value=Client()):
        result = pay(order_number="AT-ONCE", keys=KEYS[:3])  # the batch runs at the payment's commit, in process
    order = Order.objects.get(order_number="AT-ONCE")
    assert order.status == "fulfilled" and len(threads) == 3
    assert [(line.state, line.attempts) for line in order.lines.all()] == [("fulfilled", 1)] * 3
    assert [kw["order_number"] for kind, kw in routed if kind == "completed"] == ["AT-ONCE"]
    nodes = TraceNode.objects.filter(trace_id=result.trace_id)
    batch = nodes.get(kind="task", name="lms.process_lines", status="ok")
    work = nodes.filter(kind="work", parent_id=batch.id, status="ok")  # each line's node under the batch's
    assert sorted(work.values_list("name", flat=True)) == [f"lms.enroll {key}" for key in KEYS[:3]]


def test_lines_run_one_after_another_inside_a_transaction_and_with_a_pool_of_one(routed, settings):
    calls = []

    class Client:
        def set_enrollment(self, **kwargs):
            calls.append(threading.get_ident())
            return EnrollmentResult(200, {})

    with mock.patch.object(fulfillment, "get_client", return_value=Client()):
        with transaction.atomic():  # other connections could not see the lines yet
            pay(order_number="IN-TX", keys=KEYS[:2])
            process_lines.apply(args=[[[line.pk, line.claim_token] for line in OrderLine.objects.all()]])
        settings.LMS_LINES_AT_ONCE = 1
        pay(order_number="ONE-POOL", keys=KEYS[2:])
    assert set(calls) == {threading.get_ident()} and len(calls) == 4
    assert set(Order.objects.values_list("status", flat=True)) == {"fulfilled"}


def test_lines_at_the_same_time_that_fail_or_retry_are_told_so_on_the_batch_node(routed):
    barrier = threading.Barrier(3, timeout=5)
    answered = collections.Counter()

    class Client:
        def set_enrollment(self, course_run_key, **kwargs):
            answered[course_run_key] += 1
            if answered[course_run_key] == 1:
                barrier.wait()  # the three first calls at once, on three threads
            if course_run_key == KEYS[0]:
                raise LmsError("LMS answered 400: refused", status_code=400)
            if course_run_key == KEYS[1] and answered[course_run_key] == 1:
                raise LmsError("LMS answered 503", status_code=503)
            return EnrollmentResult(200, {})

    with mock.patch.object(fulfillment, "get_client", return_value=Client()):
        result = pay(order_number="MIXED", keys=KEYS[:3])
    lines = {line.course_run_key: line for line in OrderLine.objects.filter(order__order_number="MIXED")}
    assert [(lines[key].state, lines[key].attempts) for key in KEYS[:3]] == [
        ("failed", 1),
        ("fulfilled", 2),  # retried by its own task
        ("fulfilled", 1),
    ]
    assert Order.objects.get(order_number="MIXED").status == "failed"
    batch = TraceNode.objects.get(trace_id=result.trace_id, kind="task", name="lms.process_lines")
    assert batch.status == "error" and "2 of 3 item(s) not done" in batch.error_message


def test_a_connection_the_database_dropped_is_replaced_on_a_pool_thread_before_its_next_line(routed):
    def at_once():
        barrier = threading.Barrier(3, timeout=5)

        class Client:
            def set_enrollment(self, **kwargs):
                barrier.wait()
                return EnrollmentResult(200, {})

        return mock.patch.object(fulfillment, "get_client", return_value=Client())

    with at_once():
        pay(order_number="DROP-1", keys=KEYS[:3])
    names = [connections[alias].settings_dict["NAME"] for alias in ("default", "traces")]
    mine = {connections[alias].connection.thread_id() for alias in ("default", "traces")}
    with connections["default"].cursor() as cursor:  # the pool threads' connections, idle: dropped
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db IN (%s, %s)", names)
        for (thread_id,) in cursor.fetchall():
            if thread_id not in mine:
                cursor.execute(f"KILL CONNECTION {int(thread_id)}")
    with at_once():
        pay(order_number="DROP-2", keys=KEYS[:3])
    assert set(Order.objects.values_list("status", flat=True)) == {"fulfilled"}
