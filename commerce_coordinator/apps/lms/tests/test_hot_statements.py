"""A line read by core.hotsql comes with its order (OrderLineManager's select_related), as the ORM reads it."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from commerce_coordinator.apps.core import hotsql
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import fulfillment
from commerce_coordinator.apps.lms.models import Order, OrderLine

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_a_line_is_read_with_its_order_as_the_orm_reads_it():
    order = Order.objects.create(
        order_number="HOT-1", lms_user_id=7, amount=Decimal("49.00"), currency="usd", trace_ids=["a" * 32]
    )
    line = OrderLine.objects.create(order=order, course_run_key="course-v1:edX+Hot+1", claim_token="t")
    read, orm = hotsql.get(OrderLine, line.pk), OrderLine.objects.get(pk=line.pk)
    assert _fields(read) == _fields(orm)
    assert _fields(read.order) == _fields(orm.order)
    assert read.order.trace_ids == ["a" * 32] and read.order.amount == Decimal("49.00")


def test_settling_under_the_lock_reads_the_lines_in_order():
    order = Order.objects.create(order_number="HOT-2", lms_user_id=7)
    for key in ("k-b", "k-a"):
        OrderLine.objects.create(order=order, course_run_key=key, status="done")
    assert order.settle() is True
    assert order.course_run_keys == ["k-b", "k-a"]  # the lines' order (by id), as send_completed names them
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.fulfilled_at, stored.modified) == ("fulfilled", order.fulfilled_at, order.modified)
    assert order.settle() is False  # fulfilled once


def test_finishing_lines_settles_the_order_once_the_last_is_done_reading_it_with_its_lines_under_the_lock():
    order = Order.objects.create(order_number="HOT-FIN", lms_user_id=7)
    lines = [OrderLine.objects.create(order=order, course_run_key=f"k-{i}", claim_token=f"t{i}") for i in range(3)]
    for line in lines:
        OrderLine.claim(line.pk, line.claim_token)
    settled = []
    for line in lines:
        claimed = OrderLine.objects.get(pk=line.pk)
        with CaptureQueriesContext(connection) as queries:
            assert claimed.finish() is True
        settled.append(claimed.order_fulfilled)
        whole = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        sent = [sql.split()[0] for sql in whole]
        if connection.vendor == "mysql":  # the order's lock, its lines and the line's finish in one round trip
            assert sent[0] == "SELECT" and "FOR UPDATE; UPDATE `lms_orderline`" in whole[0]
            assert sent.count("SELECT") == 1 and len(sent) <= 2  # then the order's UPDATE, for the last line
    assert settled == [False, False, True]
    stored = Order.objects.get(pk=order.pk)
    assert stored.status == "fulfilled" and stored.fulfilled_at is not None
    assert claimed.order.course_run_keys == ["k-0", "k-1", "k-2"]


def test_a_claim_and_its_re_read_are_one_round_trip_on_mariadb_and_a_lost_claim_reads_nothing_back():
    order = Order.objects.create(order_number="HOT-CL", lms_user_id=7)
    line = OrderLine.objects.create(order=order, course_run_key="k-cl", claim_token="t-cl", status="pending")
    with CaptureQueriesContext(connection) as queries:
        claimed = OrderLine.claim(line.pk, "t-cl")
        lost = OrderLine.claim(line.pk, "another-run")
    assert lost is None and _fields(claimed) == _fields(OrderLine.objects.get(pk=line.pk))
    assert claimed.order.order_number == "HOT-CL" and claimed.status == "running" and claimed.attempts == 1
    sent = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "mysql":
        assert len(sent) == 2 and all(sql.startswith("UPDATE") and "; SELECT" in sql for sql in sent)
    else:
        assert [sql.split()[0] for sql in sent] == ["UPDATE", "SELECT", "UPDATE"]


def test_an_order_inserted_as_sql_text_is_what_the_orm_would_store():
    order = Order(order_number="HOT-3", lms_user_id=7, amount=Decimal("10.50"), trace_ids=["c" * 32])
    hotsql.insert([order])
    stored = Order.objects.get(pk=order.pk)
    assert _fields(stored) == _fields(order)  # created / modified stamped as auto_now(_add) stamps them
    assert stored.created is not None and stored.trace_ids == ["c" * 32]


def _record(number: str, user: int = 7, keys=("course-v1:edX+Hot+1",)) -> dict:
    return fulfillment.record_order(order_number=number, course_run_keys=list(keys), lms_user_id=user)


def test_inside_a_transaction_an_order_is_recorded_without_a_savepoint_and_a_repeat_changes_nothing():
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            first = _record("HOT-SP-1")
        again = _record("HOT-SP-1")  # the INSERT refused by the unique number: the transaction goes on
        refused = pytest.raises(fulfillment.OrderRefused, _record, "HOT-SP-1", user=8)
        Order.objects.filter(order_number="HOT-SP-1").update(currency="eur")  # still usable
    assert [q["sql"].split()[:3] for q in queries.captured_queries] == [
        ["INSERT", "INTO", '"lms_order"' if connection.vendor == "sqlite" else "`lms_order`"],
        ["INSERT", "INTO", '"lms_orderline"' if connection.vendor == "sqlite" else "`lms_orderline`"],
    ]
    assert first["created"] is True and again["created"] is False and "another LMS user" in str(refused.value)
    order = Order.objects.get(order_number="HOT-SP-1")
    assert (order.lms_user_id, order.currency, order.lines.count()) == (7, "eur", 1)


def test_a_failure_after_the_orders_insert_leaves_no_order_inside_the_transaction():
    with transaction.atomic():
        with mock.patch.object(fulfillment, "create_lines", side_effect=DataError("too long")):
            with pytest.raises(DataError):
                _record("HOT-SP-2")
        assert not Order.objects.filter(order_number="HOT-SP-2").exists()
        _record("HOT-SP-3")  # the transaction goes on
    assert list(Order.objects.values_list("order_number", flat=True)) == ["HOT-SP-3"]


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_outside_a_transaction_an_order_and_its_lines_are_written_together_or_not_at_all():
    with mock.patch.object(fulfillment, "create_lines", side_effect=DataError("too long")):
        with pytest.raises(DataError):
            _record("HOT-SP-4")
    assert not Order.objects.exists()
    assert _record("HOT-SP-4")["created"] is True and OrderLine.objects.count() == 1
