"""Traces: one tree per top-level send, nested sends, sampling, rollback survival, one write, log ids."""

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.models import Trace, TraceKey, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, nested_signal, order_placed
from commerce_coordinator.apps.core.trace_logging import TraceIdFilter

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

ROUTES = {
    PREFIX + "order_placed": [PREFIX + "record", PREFIX + "explode", PREFIX + "send_nested"],
    PREFIX + "nested_signal": [PREFIX + "nested_receiver"],
}


@override_settings(CC_SIGNALS=ROUTES)
def test_a_send_is_stored_as_one_tree_with_nested_sends():
    result = order_placed.send("tester", order_number="T-1", count=1)
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=result.trace_id)}
    [root] = [n for n in nodes.values() if n.parent_id is None]
    assert (root.kind, root.name, root.sender, root.status) == ("send", PREFIX + "order_placed", "tester", "error")
    children = sorted((n for n in nodes.values() if n.parent_id == root.id), key=lambda n: n.started_at)
    assert [(c.name.removeprefix(PREFIX), c.status) for c in children] == [
        ("record", "ok"),
        ("explode", "error"),
        ("send_nested", "ok"),
    ]
    assert children[1].error_type == "RuntimeError" and "exploded" in children[1].traceback
    [nested_send] = [n for n in nodes.values() if n.parent_id == children[2].id]
    assert nested_send.kind == "send" and nested_send.name == PREFIX + "nested_signal"
    [nested_receiver] = [n for n in nodes.values() if n.parent_id == nested_send.id]
    assert nested_receiver.status == "ok" and nested_receiver.result == "'nested ok'"
    assert len(nodes) == 6
    assert Trace.objects.with_status().get(trace_id=result.trace_id).has_error


@override_settings(CC_SIGNALS=ROUTES)
def test_a_whole_send_is_written_in_one_statement():
    with CaptureQueriesContext(connections["traces"]) as queries:
        order_placed.send("t", order_number="T-2", count=1)
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT")


@override_settings(CC_SIGNALS=ROUTES, CC_TRACE_SAMPLE_RATE=0.0)
def test_a_sampled_out_send_stores_nothing_but_still_has_a_trace_id():
    result = order_placed.send("t", order_number="T-3", count=1)
    assert len(result.trace_id) == 32
    assert [r.status for r in result.results] == ["ok", "error", "ok"]
    assert not TraceNode.objects.exists()


@override_settings(CC_SIGNALS=ROUTES, CC_TRACE_SAMPLE_RATE=0.5)
def test_sampling_follows_the_rate():
    for i in range(200):
        order_placed.send("t", order_number=f"S-{i}", count=1)
    stored = Trace.objects.filter(name=PREFIX + "order_placed").count()
    assert 60 < stored < 140


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
@override_settings(CC_SIGNALS=ROUTES)
def test_a_trace_survives_the_rollback_of_the_work_it_traced(django_user_model):
    with pytest.raises(RuntimeError), transaction.atomic():
        django_user_model.objects.create_user("rolled-back")
        result = order_placed.send("t", order_number="T-4", count=1)
        raise RuntimeError("the work fails after the send")
    assert not django_user_model.objects.filter(username="rolled-back").exists()
    assert TraceNode.objects.filter(trace_id=result.trace_id).count() == 6


@override_settings(CC_SIGNALS=ROUTES)
def test_sends_inside_an_explicit_trace_share_its_id():
    with tracing.trace(trace_id="a" * 32) as ctx:
        first = order_placed.send("t", order_number="T-5", count=1)
        second = nested_signal.send("t", order_number="T-5")
        assert tracing.current_trace_id() == ctx.trace_id
    assert first.trace_id == second.trace_id == "a" * 32
    assert tracing.current() is None
    assert TraceNode.objects.filter(trace_id="a" * 32, parent_id__isnull=True).count() == 2
    assert Trace.objects.filter(trace_id="a" * 32).count() == 1  # the trace list shows a trace once


def test_a_failed_trace_write_is_logged_and_never_raised(caplog):
    node = tracing.SpanNode("b" * 32, None, "send", "x" * 300)
    node.id = None  # the primary key cannot be NULL: the INSERT fails
    tracing.write_nodes([node])
    assert "Could not store 1 trace node(s)" in caplog.text


@override_settings(CC_SIGNALS=ROUTES)
def test_every_log_line_written_inside_a_trace_carries_its_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceIdFilter())
    handler.setFormatter(logging.Formatter("[trace=%(trace_id)s] %(message)s"))
    logger = logging.getLogger("commerce_coordinator.apps.core.signals")
    logger.addHandler(handler)
    try:
        result = order_placed.send("t", order_number="T-6", count=1)
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith(f"[trace={result.trace_id}] Receiver {PREFIX}explode failed")
    assert "[trace=-] outside" in lines


@override_settings(CC_SIGNALS={PREFIX + "order_placed": [PREFIX + "record_task"]})
def test_a_task_receiver_run_in_process_nests_under_its_queued_node(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = order_placed.send("t", order_number="T-7", count=1)
    queued = TraceNode.objects.get(trace_id=result.trace_id, kind="receiver")
    task = TraceNode.objects.get(trace_id=result.trace_id, kind="task")
    assert queued.status == "queued" and task.parent_id == queued.id and task.status == "ok"
    assert task.task_id == result.results[0].task_id


@override_settings(CC_SIGNALS={PREFIX + "order_placed": [PREFIX + "record_task"]})
def test_a_task_that_cannot_be_published_is_logged_and_traced(django_capture_on_commit_callbacks, monkeypatch, caplog):
    from commerce_coordinator.apps.core.tests import fixtures

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(fixtures.record_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        result = order_placed.send("t", order_number="T-8", count=1)
    assert "Could not enqueue" in caplog.text
    failed = TraceNode.objects.get(trace_id=result.trace_id, kind="publish")
    assert failed.status == "error" and failed.error_type == "ConnectionError"


def _inserts(queries) -> int:
    return sum(q["sql"].count("INSERT INTO") for q in queries.captured_queries)


def test_a_trace_larger_than_one_statement_is_written_in_chunks():
    nodes = [tracing.SpanNode("c" * 32, None, "send", f"n{i}") for i in range(1200)]
    with CaptureQueriesContext(connections["traces"]) as queries:
        tracing.write_nodes(nodes)
    assert _inserts(queries) == 3  # one round trip for the three on MariaDB (hotsql.takes_statements_together)
    assert len(queries) == (1 if connections["traces"].vendor == "mysql" else 3)
    assert TraceNode.objects.filter(trace_id="c" * 32).count() == 1200


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_traces_nodes_and_keys_are_one_transaction_written_whole_or_not_at_all(monkeypatch, caplog):
    built = tracing._insert_sql

    def keys_refused(connection, table, columns, count):
        return built(connection, table, columns, count).replace("core_tracekey", "core_no_such_table")

    monkeypatch.setattr(tracing, "_insert_sql", keys_refused)
    node = tracing.SpanNode("d" * 32, None, "send", "n")
    tracing.write_nodes([node], {("order_number", "O-WHOLE"): node.id})  # never raises: logged
    assert not TraceNode.objects.filter(trace_id="d" * 32).exists()
    assert "Could not store 1 trace node(s)" in caplog.text


def test_statements_sent_together_stay_under_the_packet_limit_in_round_trips_of_their_own(monkeypatch):
    from commerce_coordinator.apps.core import hotsql

    monkeypatch.setattr(hotsql, "TOGETHER_MAX_CHARS", 4000)
    monkeypatch.setattr(tracing, "MAX_ROWS_PER_INSERT", 10)
    nodes = [tracing.SpanNode("e" * 32, None, "send", f"n{i}") for i in range(40)]
    for node in nodes:
        node.error_message = "x" * 500
    with CaptureQueriesContext(connections["traces"]) as queries:
        tracing.write_nodes(nodes)
    assert _inserts(queries) == 4 and TraceNode.objects.filter(trace_id="e" * 32).count() == 40
    if connections["traces"].vendor == "mysql":  # 2 chunks of ~5,000 characters each: not together
        assert 1 < len(queries) <= 4 and all(len(q["sql"]) < 8000 for q in queries.captured_queries)


# --- the public span API -----------------------------------------------------------------------


def test_span_records_a_node_with_business_keys_and_names_the_trace(client, admin_user):
    with tracing.span("webhook", "stripe payment_intent.succeeded", payment_id="pi_1", event_id="evt_1") as node:
        tracing.name_trace("payment_intent.succeeded")
        tracing.add_keys(order_number="O-SPAN")
        trace_id = node.trace_id
    [root] = TraceNode.objects.filter(trace_id=trace_id)
    assert (root.kind, root.status, root.subject) == ("webhook", "ok", "payment_intent.succeeded")
    client.force_login(admin_user)
    for param, value in [("order", "O-SPAN"), ("payment_id", "pi_1"), ("event", "evt_1")]:
        [listed] = client.get("/core/traces/", {param: value}).json()["results"]
        assert listed["trace_id"] == trace_id and listed["name"] == "payment_intent.succeeded"
    assert client.get("/core/traces/", {"order": "O-OTHER"}).json()["results"] == []


def test_an_exception_leaving_a_span_marks_it_error_and_is_raised():
    with pytest.raises(KeyError), tracing.span("work", "fails") as node:
        trace_id = node.trace_id
        raise KeyError("missing")
    node = TraceNode.objects.get(trace_id=trace_id)
    assert node.status == "error" and node.error_type == "KeyError" and "missing" in node.traceback


def test_span_refuses_undeclared_kinds_keys_and_statuses():
    with pytest.raises(ValueError, match="unknown node kind"), tracing.span("frobnicate", "x"):
        pass
    with pytest.raises(ValueError, match="unknown business key"), tracing.span("work", "x", colour="red"):
        pass
    with pytest.raises(ValueError, match="unknown node status"), tracing.span("work", "x") as node:
        node.outcome("meh")


@override_settings(CC_SIGNALS=ROUTES)
def test_signal_filter_finds_every_trace_in_which_the_signal_was_sent(client, admin_user):
    with tracing.span("task", "some.task") as node:
        nested_signal.send("t", order_number="T-NEST")
        trace_id = node.trace_id
    client.force_login(admin_user)
    for name in ("nested_signal", PREFIX + "nested_signal"):
        found = [t["trace_id"] for t in client.get("/core/traces/", {"signal": name}).json()["results"]]
        assert trace_id in found


def test_the_trace_insert_follows_the_model_fields():
    """The INSERT's columns come from core.TraceNode, so a field added there cannot break trace writes."""
    columns, readers = tracing._node_layout()
    assert set(columns) == {f.column for f in TraceNode._meta.concrete_fields}
    unknown = [c for c, (attribute, *_rest) in zip(columns, readers, strict=True) if attribute is None]
    assert unknown == []  # today every column has a SpanNode attribute; a new one would be written with its default


# --- deferred writes -----------------------------------------------------------------------------


@override_settings(CC_SIGNALS=ROUTES)
def test_deferred_writes_store_the_traces_of_a_block_together_when_it_ends():
    with tracing.deferred_writes():
        with CaptureQueriesContext(connections["traces"]) as queries:
            with tracing.span("command", "first", order_number="D-1") as first:
                pass
            with tracing.span("command", "second", order_number="D-2") as second:
                order_placed.send("t", order_number="D-2", count=1)
            with tracing.deferred_writes():  # a nested block joins the outer one
                with tracing.span("command", "third") as third:
                    pass
        assert len(queries) == 0 and not TraceNode.objects.filter(id=first.id).exists()
        first.outcome("retry", "amended before it is written")
        first.finish(first.status, first.duration_ms)
    stored = {node.trace_id: node for node in TraceNode.objects.filter(parent_id__isnull=True)}
    assert set(stored) == {first.trace_id, second.trace_id, third.trace_id}
    assert (stored[first.trace_id].status, stored[first.trace_id].error_message) == (
        "retry",
        "amended before it is written",
    )
    assert TraceNode.objects.filter(trace_id=second.trace_id).count() > 1  # the send and its receivers
    assert set(Trace.objects.with_key("order_number", "D-1").values_list("trace_id", flat=True)) == {first.trace_id}
    assert set(Trace.objects.with_key("order_number", "D-2").values_list("trace_id", flat=True)) == {second.trace_id}


def test_a_key_that_two_parts_of_one_trace_carried_alike_is_stored_once():
    with tracing.deferred_writes():
        with tracing.span("command", "the event", order_number="K-1", lms_user_id=7) as event:
            pass
        _, leave = tracing.join(event.trace_id, True, event.id)  # its lines, run after it (ADR 0074)
        with tracing.span("work", "a line", order_number="K-1", lms_user_id=8):
            pass
        leave()
    keys = TraceKey.objects.filter(trace_id=event.trace_id)
    assert sorted(keys.values_list("key", "value", "node_id")) == [
        ("lms_user_id", "7", event.id),
        ("lms_user_id", "8", keys.get(value="8").node_id),
        ("order_number", "K-1", event.id),  # once, as the first part carried it
    ]


def test_deferred_writes_use_two_inserts_for_all_the_traces_of_the_block():
    with CaptureQueriesContext(connections["traces"]) as queries:
        with tracing.deferred_writes():
            for n in range(30):
                with tracing.span("command", f"c{n}", message_id=f"m-{n}"):
                    pass
    assert _inserts(queries) == 2  # nodes, keys: in one round trip on MariaDB
    assert len(queries) == (1 if connections["traces"].vendor == "mysql" else 2)
    assert TraceNode.objects.filter(kind="command", name__startswith="c").count() == 30


def test_ids_are_32_hex_digits_unique_and_later_ones_sort_later():
    """Time-ordered ids keep the trace tables' indexes growing at their end (ADR 74's measurements)."""
    import re
    import time as clock

    first = [tracing.new_id() for _ in range(2000)]
    clock.sleep(0.002)
    later = tracing.new_id()
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in first) and len(set(first)) == len(first)
    assert later > max(first)


def test_work_carried_to_other_threads_joins_the_trace_under_the_current_node_without_nesting():
    started = threading.Barrier(2, timeout=5)  # both threads inside their spans at once

    def branch_work(name):
        with tracing.span("work", name):
            started.wait()
            with tracing.span("work", f"{name} inner"):
                tracing.add_keys(order_number=name)
        return tracing.current().trace_id

    with tracing.span("task", "parent") as parent:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(tracing.carried(branch_work), name) for name in ("a", "b")]
            seen = {future.result() for future in futures}
        trace_id = tracing.current().trace_id
    assert seen == {trace_id} and tracing.current() is None
    nodes = {n.name: n for n in TraceNode.objects.filter(trace_id=trace_id)}
    assert {nodes["a"].parent_id, nodes["b"].parent_id} == {parent.id}
    assert (nodes["a inner"].parent_id, nodes["b inner"].parent_id) == (nodes["a"].id, nodes["b"].id)
    keys = TraceKey.objects.filter(trace_id=trace_id, key="order_number")
    assert sorted(keys.values_list("value", flat=True)) == ["a", "b"]
    assert tracing.carried(branch_work) is branch_work  # no trace here: the function as it is
