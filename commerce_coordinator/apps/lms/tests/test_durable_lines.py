"""Order lines as core durable work items: what the traces say about an LMS 400 and 503, the payment-signal
contract (username, partial refunds), the orders this app refuses, and the shipped queue routing."""

import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core import retries
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import fulfillment
from commerce_coordinator.apps.lms.models import Order, OrderLine

from .fake_payments import pay, refund

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
A, B = "course-v1:edX+A+2026", "course-v1:edX+B+2026"


# --- traces tell the outcome -------------------------------------------------------------------


def test_an_lms_400_makes_the_trace_error_with_the_reason_listed_by_status_error(fake_lms, routed, staff_client):
    fake_lms.then(400)
    result = pay(order_number="T400", keys=[A], user=4242)
    work = TraceNode.objects.get(trace_id=result.trace_id, kind="work")
    assert work.status == "error" and work.error_message == "LMS answered 400: scripted 400"
    task = TraceNode.objects.get(trace_id=result.trace_id, kind="task", name="lms.process_line")
    assert task.status == "error" and task.error_message.startswith("LMS answered 400: ")
    listed = staff_client.get("/core/traces/", {"status": "error"}).json()["results"]
    assert [t["trace_id"] for t in listed] == [result.trace_id]
    for key, value in (("order", "T400"), ("user", "4242")):  # found by the business keys of its spans
        found = staff_client.get("/core/traces/", {key: value}).json()["results"]
        assert [t["trace_id"] for t in found] == [result.trace_id]
    detail = staff_client.get(f"/core/traces/{result.trace_id}/").json()
    assert detail["status"] == "error" and detail["keys"]["order_number"] == ["T400"]


def test_an_lms_503_leaves_a_retry_node_with_the_next_attempt_time(fake_lms, routed, settings):
    fake_lms.then(503)
    result = pay(order_number="T503", keys=[A])
    works = list(TraceNode.objects.filter(trace_id=result.trace_id, kind="work").order_by("started_at"))
    assert [w.status for w in works] == ["retry", "ok"]
    retry = works[0]
    assert retry.error_message == "LMS answered 503: scripted 503" and retry.attempt == 1
    assert isinstance(retry.next_attempt_at, datetime)
    tasks = TraceNode.objects.filter(trace_id=result.trace_id, kind="task", name="lms.process_line")
    assert sorted(tasks.values_list("status", flat=True)) == ["ok", "retry"]
    assert tasks.get(status="retry").next_attempt_at is not None
    assert OrderLine.objects.get().state == "fulfilled"


# --- the payment-signal contract ---------------------------------------------------------------


def test_an_order_named_by_username_only_enrolls_that_username(fake_lms, routed):
    result = pay(order_number="U-1", keys=[A], user=None, username="learner@example.com")
    assert result.ok, result.as_dict()
    order = Order.objects.get()
    assert (order.lms_user_id, order.lms_username, order.status) == (None, "learner@example.com", "fulfilled")
    assert fake_lms.calls[0]["body"]["user"] == "learner@example.com"
    assert routed == [("completed", {"order_number": "U-1", "lms_user_id": None, "course_run_keys": [A]})]


def test_a_username_wins_over_the_user_id_in_the_enrollment_call(fake_lms, routed):
    pay(order_number="U-2", keys=[A], user=7, username="learner7")
    assert fake_lms.calls[0]["body"]["user"] == "learner7"


def test_a_partial_refund_naming_no_run_records_the_amount_and_keeps_the_enrollments(fake_lms, routed):
    pay(order_number="P-1", keys=[A, B])
    assert refund(order_number="P-1", amount="10.00", full=False).ok
    refund(order_number="P-1", amount="5.50", full=False)
    order = Order.objects.get()
    assert (order.status, order.refunded_amount) == ("partially_refunded", Decimal("15.50"))
    assert {line.state for line in order.lines.all()} == {"fulfilled"}
    assert fake_lms.enroll_calls(active=False) == []
    # Then the rest is refunded in full: every line is unenrolled.
    refund(order_number="P-1", amount="33.50", full=True)
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("49.00"))
    assert {line.state for line in order.lines.all()} == {"refunded"}


def test_a_full_refund_unenrolls_every_line_even_when_it_names_some(fake_lms, routed):
    pay(order_number="P-2", keys=[A, B])
    refund(order_number="P-2", keys=[A], full=True)
    assert {line.state for line in OrderLine.objects.all()} == {"refunded"}


def test_a_partial_refund_naming_every_run_refunds_the_order(fake_lms, routed):
    pay(order_number="P-3", keys=[A, B])
    refund(order_number="P-3", keys=[A], amount="20.00", full=False)
    assert Order.objects.get().status == "partially_refunded"
    refund(order_number="P-3", keys=[B], amount="29.00", full=False)
    assert Order.objects.get().status == "refunded"


def test_receivers_take_extra_arguments_a_sender_adds_later():
    from commerce_coordinator.apps.lms import receivers

    with pytest.raises(fulfillment.OrderRefused):  # it got as far as the order-number rule
        receivers.fulfill_paid_order(
            "x", "bad number", 1, [A], Decimal(1), "USD", "stripe", "pi", lms_username="", something_new=1
        )


# --- orders this app refuses (issue 9: items 2, 7 and 9) ----------------------------------------


def _refusal(result):
    [receiver] = result.results
    assert receiver.status == "error"
    assert isinstance(receiver.error, fulfillment.OrderRefused) and not retries.is_retryable(receiver.error)
    return str(receiver.error)


def test_an_order_number_recorded_for_another_user_is_a_failure_with_a_signal(fake_lms, routed):
    pay(order_number="SAME-1", keys=[A], user=1)
    second = pay(order_number="SAME-1", keys=[A], user=2)
    assert "already recorded for another LMS user" in _refusal(second)
    failed = [kw for kind, kw in routed if kind == "failed"]
    assert failed == [
        {
            "order_number": "SAME-1",
            "lms_user_id": 2,
            "course_run_key": "",
            "action": "enroll",
            "attempts": 0,
            "error": "this order number is already recorded for another LMS user",
        }
    ]
    order = Order.objects.get()
    assert order.lms_user_id == 1 and len(fake_lms.calls) == 1
    assert second.trace_id not in order.trace_ids  # the refused payment left the recorded order as it was
    node = TraceNode.objects.get(trace_id=second.trace_id, kind="receiver", name__endswith="fulfill_paid_order")
    assert node.status == "error" and "another LMS user" in node.error_message


def test_more_course_runs_than_the_cap_are_refused_with_the_reason(fake_lms, routed, settings):
    settings.LMS_MAX_COURSE_RUNS_PER_ORDER = 2
    result = pay(order_number="BIG-1", keys=[A, B, "course-v1:edX+C+2026"])
    assert "3 course runs in one order; at most 2" in _refusal(result)
    assert not Order.objects.exists() and fake_lms.calls == []
    assert [kind for kind, _ in routed] == ["failed"]


@pytest.mark.parametrize("number", ["learner@example.com", "has space", "", "x" * 129, "-leading-dash"])
def test_the_webhook_path_refuses_order_numbers_the_order_api_cannot_show(fake_lms, routed, number, staff_client):
    reason = _refusal(pay(order_number=number, keys=[A]))
    assert "not an order number" in reason and "@" not in reason
    assert not Order.objects.exists()
    assert "@" not in routed[0][1]["order_number"]  # the signal carries no e-mail in clear either


def test_two_course_runs_differing_by_case_are_two_lines(fake_lms, routed):
    keys = ["course-v1:edX+Case+run", "course-v1:edX+Case+RUN"]
    assert pay(order_number="CASE-K", keys=keys).ok
    assert sorted(OrderLine.objects.values_list("course_run_key", flat=True)) == sorted(keys)
    assert Order.objects.get().status == "fulfilled" and len(fake_lms.calls) == 2


def test_the_fulfillments_api_answers_409_for_another_users_order(client, fake_lms, routed):
    from .test_api import service_jwt

    pay(order_number="API-1", keys=[A], user=1)
    body = {"order_number": "API-1", "lms_user_id": 2, "lines": [{"course_run_key": A}]}
    response = client.post(
        "/api/v1/fulfillments/", body, content_type="application/json", HTTP_AUTHORIZATION=service_jwt()
    )
    assert response.status_code == 409 and response.json()["error"] == "refused"


# --- operator commands and the shipped settings -------------------------------------------------


def test_retry_fulfillment_names_the_operator_and_takes_a_reason(fake_lms, routed):
    from commerce_coordinator.apps.core.models import WorkAudit

    fake_lms.then(400)
    pay(order_number="OP-1", keys=[A])
    call_command("retry_fulfillment", "OP-1", "--reason", "course created", stdout=io.StringIO())
    audit = WorkAudit.objects.get()
    assert audit.reason == "course created" and audit.actor and audit.item_type == "lms.orderline"
    assert TraceNode.objects.filter(trace_id=audit.trace_id, kind="operator").exists()
    assert OrderLine.objects.get().state == "fulfilled"


def test_the_shipped_settings_route_fulfillment_to_its_own_queue():
    from commerce_coordinator.settings import base

    assert base.CELERY_TASK_ROUTES["lms.process_line"] == {"queue": "lms_fulfillment"}
    assert base.LMS_CELERY_QUEUE != base.CELERY_TASK_DEFAULT_QUEUE
    # Declared, so that a worker started without -Q (the dev server's) consumes it too.
    assert "lms_fulfillment" in {q.name for q in base.CELERY_TASK_QUEUES}
    assert base.LMS_MAX_COURSE_RUNS_PER_ORDER == 100


def test_order_numbers_differing_by_case_are_two_orders_on_every_database(fake_lms, routed, staff_client):
    assert pay(order_number="CASE-x-ab", keys=[A], user=1).ok
    assert pay(order_number="CASE-x-AB", keys=[A], user=2).ok  # another buyer, not a repeat
    assert dict(Order.objects.values_list("order_number", "lms_user_id")) == {"CASE-x-ab": 1, "CASE-x-AB": 2}
    assert sorted(call["body"]["user"] for call in fake_lms.calls) == ["1", "2"]
    assert staff_client.get("/api/v1/orders/CASE-x-AB/").json()["lms_user_id"] == 2
    assert staff_client.get("/api/v1/orders/case-X-AB/").status_code == 404
