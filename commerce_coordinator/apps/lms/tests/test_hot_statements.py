"""A line read by core.hotsql comes with its order (OrderLineManager's select_related), as the ORM reads it."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.core import hotsql
from commerce_coordinator.apps.core.testing import ALL_DATABASES
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


def test_an_order_inserted_as_sql_text_is_what_the_orm_would_store():
    order = Order(order_number="HOT-3", lms_user_id=7, amount=Decimal("10.50"), trace_ids=["c" * 32])
    hotsql.insert([order])
    stored = Order.objects.get(pk=order.pk)
    assert _fields(stored) == _fields(order)  # created / modified stamped as auto_now(_add) stamps them
    assert stored.created is not None and stored.trace_ids == ["c" * 32]
