"""Migration 0002 keeps every line: the old statuses and task tokens become action + work status + claim token."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
BEFORE, AFTER = [("lms", "0001_initial")], [("lms", "0002_orderline_durable_work_item")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_the_data_migration_maps_old_lines_to_durable_work_items():
    old = _migrate(BEFORE)
    try:
        Order, OrderLine = old.get_model("lms", "Order"), old.get_model("lms", "OrderLine")
        order = Order.objects.create(order_number="MIG-1", lms_user_id=5, status="fulfilling")
        then = timezone.now() - timezone.timedelta(hours=1)
        rows = {
            "queued": ("pending", "t1:0", 0),
            "retrying": ("pending", "t2:3", 3),
            "in flight": ("pending", "t3:1:run", 2),
            "enrolled": ("fulfilled", "", 1),
            "failed": ("failed", "", 5),
            "unenrolling": ("refund_pending", "t4:0", 1),
            "unenrolled": ("refunded", "", 2),
            "unenroll failed": ("refund_failed", "", 2),
        }
        for key, (status, token, attempts) in rows.items():
            OrderLine.objects.create(
                order=order,
                course_run_key=key,
                status=status,
                task_token=token,
                attempts=attempts,
                last_attempt_at=then,
                last_trace_id="a" * 32,
                fulfilled_at=then if status == "fulfilled" else None,
                refunded_at=then if status == "refunded" else None,
            )
        new = _migrate(AFTER)
        lines = {line.course_run_key: line for line in new.get_model("lms", "OrderLine").objects.all()}
        got = {key: (line.action, line.status, line.claim_token) for key, line in lines.items()}
        assert got == {
            "queued": ("enroll", "pending", "t1"),
            "retrying": ("enroll", "retry", "t2"),
            "in flight": ("enroll", "running", "t3"),  # the redelivered task t3 retakes it at once
            "enrolled": ("enroll", "done", ""),
            "failed": ("enroll", "failed", ""),
            "unenrolling": ("unenroll", "retry", "t4"),
            "unenrolled": ("unenroll", "done", ""),
            "unenroll failed": ("unenroll", "failed", ""),
        }
        assert lines["enrolled"].finished_at == then and lines["unenrolled"].finished_at == then
        assert all(line.claimed_at == then and line.trace_id == "a" * 32 for line in lines.values())
        assert new.get_model("lms", "Order").objects.get().lms_username == ""
        # And back: the old statuses return.
        old = _migrate(BEFORE)
        back = {
            line.course_run_key: (line.status, line.task_token)
            for line in old.get_model("lms", "OrderLine").objects.all()
        }
        assert back["in flight"] == ("pending", "t3:0:run") and back["unenrolled"] == ("refunded", "")
        assert back["unenrolling"] == ("refund_pending", "t4:0")
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("lms"))
