"""core.hotsql: the hot statements of durable work as SQL text give what the ORM gives (DemoItem here; an item
read with its select_related order in lms/tests/test_hot_statements.py)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from commerce_coordinator.apps.core import durable, hotsql
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.workapp.models import DemoItem

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_get_reads_the_row_as_the_orm_does():
    item = DemoItem.objects.create(url="u", claim_token="t", next_attempt_at=timezone.now(), last_status_code=503)
    read = hotsql.get(DemoItem, item.pk)
    assert _fields(read) == _fields(DemoItem.objects.get(pk=item.pk))
    assert read.next_attempt_at.tzinfo is not None  # converted as the ORM converts (aware datetimes)
    assert read._state.adding is False and read._state.db == "default"
    assert hotsql.get(DemoItem, item.pk + 1000) is None


def test_update_counts_matched_rows_increments_and_keeps_a_column_given_none():
    item = DemoItem.objects.create(claim_token="t", trace_id="a" * 32)
    later = timezone.now() + timedelta(minutes=1)
    where = "{pk} = %s AND {claim_token} = %s"
    values = {"status": durable.WorkStatus.RUNNING, "updated_at": later, "trace_id": None}
    assert hotsql.update(DemoItem, values, where, [item.pk, "t"], increment=("attempts",), keep_if_null=("trace_id",))
    item.refresh_from_db()
    assert (item.status, item.attempts, item.trace_id, item.updated_at) == ("running", 1, "a" * 32, later)
    assert hotsql.update(DemoItem, {"status": "running"}, where, [item.pk, "t"]) == 1  # same value: still matched
    assert hotsql.update(DemoItem, {"status": "done"}, where, [item.pk, "other"]) == 0


def test_rows_reads_converted_values_in_order_and_may_lock_them():
    now = timezone.now()
    first = DemoItem.objects.create(order_number="O-1", next_attempt_at=now)
    second = DemoItem.objects.create(order_number="O-1")
    got = hotsql.rows(DemoItem, ("id", "next_attempt_at"), "{order_number} = %s ORDER BY {pk}", ["O-1"], True)
    assert got == [(first.pk, now), (second.pk, None)]


def test_a_claim_without_a_current_trace_keeps_the_items_trace_id_and_matches_the_orm_claim():
    fast = DemoItem.objects.create(claim_token="t", trace_id="b" * 32)
    orm = DemoItem.objects.create(claim_token="t", trace_id="b" * 32)
    claimed = DemoItem.claim(fast.pk, "t")
    by_orm = DemoItem.claim(orm.pk, "t", attempts=F("attempts"))  # extra conditions: the ORM's statement
    ignore = {"id", "claimed_at", "updated_at", "created_at"}
    assert {k: v for k, v in _fields(claimed).items() if k not in ignore} == {
        k: v for k, v in _fields(by_orm).items() if k not in ignore
    }
    assert (claimed.status, claimed.attempts, claimed.trace_id) == ("running", 1, "b" * 32)


def test_insert_writes_rows_as_the_orm_does_and_sets_their_keys():
    items = [DemoItem(url=f"u{i}", claim_token=f"t{i}", next_attempt_at=timezone.now()) for i in range(3)]
    hotsql.insert(items)
    assert [i.pk for i in items] == list(
        DemoItem.objects.filter(url__startswith="u").order_by("pk").values_list("pk", flat=True)
    )
    for item in items:
        assert _fields(item) == _fields(DemoItem.objects.get(pk=item.pk)) and not item._state.adding
    one = DemoItem(url="single")
    hotsql.insert([one])
    assert DemoItem.objects.get(pk=one.pk).url == "single"


def test_statements_run_together_give_each_its_rowcount_and_rows_and_stop_at_the_first_error():
    a, b = (DemoItem.objects.create(url=url) for url in ("a", "b"))
    table = DemoItem._meta.db_table
    connection = connections["default"]
    results = hotsql.execute_together(
        connection,
        [
            (f"UPDATE {table} SET url = %s WHERE id IN (%s, %s)", ["ab", a.pk, b.pk]),
            (f"SELECT id, url FROM {table} WHERE id = %s", [a.pk]),
        ],
    )
    assert results[0] == (2, ()) and results[1][1] == ((a.pk, "ab"),)  # a SELECT's rowcount: the driver's
    with pytest.raises(IntegrityError):  # the second statement's error, as when it is sent alone
        with transaction.atomic():
            hotsql.execute_together(
                connection,
                [
                    (f"UPDATE {table} SET url = %s WHERE id = %s", ["first", a.pk]),
                    (f"UPDATE {table} SET id = %s WHERE id = %s", [b.pk, a.pk]),  # a duplicate key
                    (f"UPDATE {table} SET url = %s WHERE id = %s", ["never", b.pk]),
                ],
            )
    assert sorted(DemoItem.objects.values_list("url", flat=True)) == ["ab", "ab"]  # the block rolled back
