"""Signal traces: the context that ties every hop of a workflow to one trace id, and its recorder.

A trace is a tree of nodes (sends, receiver calls, task runs, spans of work). Nodes
are kept in memory while the top-level send (or task run) is under way and written
when it ends, in one INSERT on the trace database's own connection, so a trace
survives the rollback of the work it traced (docs/decisions/0003-traces.md).

Apps add nodes only through `span(kind, name, **business_keys)`, mark a node's
outcome with `SpanNode.outcome()` / `set_outcome()`, attach business keys with
`add_keys()` and name a trace after what it is about with `name_trace()`
(docs/decisions/0012-trace-outcomes-and-business-keys.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import traceback as _traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.db import connections, transaction

from . import hotsql

logger = logging.getLogger(__name__)

NODE_COLUMNS = (  # what a SpanNode records; write_nodes writes core.TraceNode's fields from these (_node_layout)
    "id",
    "trace_id",
    "parent_id",
    "kind",
    "name",
    "sender",
    "status",
    "started_at",
    "duration_ms",
    "result",
    "error_type",
    "error_message",
    "traceback",
    "task_id",
    "subject",
    "attempt",
    "next_attempt_at",
)
MAX_TEXT = 4000

# Node statuses, from the best to the worst: a trace's status is its worst node's.
OK, SKIPPED, QUEUED, RUNNING, RETRY, ERROR = "ok", "skipped", "queued", "running", "retry", "error"
STATUS_RANK = {OK: 0, SKIPPED: 0, QUEUED: 1, RUNNING: 2, RETRY: 3, ERROR: 4}
# The kinds of node (core.TraceNode.kind choices); span() refuses any other.
NODE_KINDS = ("send", "receiver", "task", "publish", "work", "webhook", "command", "request", "operator")
# Business keys a node may carry (core.TraceKey rows, indexed by (key, value)): the trace filters' names.
BUSINESS_KEYS = (
    "order_number",
    "payment_id",
    "lms_user_id",
    "event_id",
    "invoice_number",
    "contract_id",
    "subscription_id",
    "message_id",
    "account_id",
)


def new_id() -> str:
    """A 32-hex-digit id for a trace or a node (not secret): the millisecond it was made, then 80 random bits, so
    that ids made later sort later and the trace tables' indexes grow at their end instead of at random pages."""
    return f"{time.time_ns() // 1_000_000:012x}{random.getrandbits(80):020x}"


class SpanNode:
    """One node of a trace while it is being recorded (a row of core.TraceNode once flushed)."""

    __slots__ = NODE_COLUMNS + ("_t0", "_outcome")

    def __init__(self, trace_id, parent_id, kind, name, sender="", status="running", task_id=None):
        self.id = new_id()
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.kind = kind
        self.name = name
        self.sender = sender
        self.status = status
        self.started_at = time.time()
        self._t0 = time.perf_counter()
        self.duration_ms = 0.0
        self.result = ""
        self.error_type = ""
        self.error_message = ""
        self.traceback = ""
        self.task_id = task_id
        self.subject = ""
        self.attempt = None
        self.next_attempt_at = None
        self._outcome = None

    def finish(self, status: str, duration_ms: float | None = None) -> None:
        """End the node; an outcome the work declared (outcome()) wins over a milder status."""
        outcome = self._outcome
        if outcome is not None and STATUS_RANK.get(outcome, 0) >= STATUS_RANK.get(status, 0):
            status = outcome
        self.status = status
        self.duration_ms = (time.perf_counter() - self._t0) * 1000 if duration_ms is None else duration_ms

    def outcome(self, status: str, reason: str = "", *, attempt=None, next_attempt_at=None) -> None:
        """Declare what the work of this node came to: ok, retry (with the next attempt) or error (with why)."""
        if status not in STATUS_RANK:
            raise ValueError(f"unknown node status {status!r}; one of {', '.join(STATUS_RANK)}")
        self._outcome = status
        if reason:
            self.error_message = str(reason)[:MAX_TEXT]
            if status != OK and not self.error_type:
                self.error_type = "retry" if status == RETRY else "failure"
        if attempt is not None:
            self.attempt = attempt
        if next_attempt_at is not None:
            self.next_attempt_at = next_attempt_at

    def fail(self, error: BaseException, traceback_text: str) -> None:
        self.error_type = type(error).__qualname__
        self.error_message = str(error)[:MAX_TEXT]
        self.traceback = traceback_text


class TraceContext:
    """What a process knows of the trace it is working in: id, sampling, current parent, pending nodes."""

    __slots__ = ("trace_id", "sampled", "parent_id", "nodes", "in_atomic", "keys", "subject")

    def __init__(self, trace_id: str, sampled: bool, parent_id: str | None = None):
        self.trace_id = trace_id
        self.sampled = sampled
        self.parent_id = parent_id
        self.nodes: list[SpanNode] = []
        self.in_atomic = False  # is the send under way inside a database transaction?
        self.keys: dict[tuple[str, str], str] = {}  # (key, value) -> id of the first node that carried it
        self.subject = ""

    def open_node(self, kind: str, name: str, sender: str = "", status: str = "running", task_id=None) -> SpanNode:
        """Core's own recording of a node (sends, receivers, task runs); apps use span()."""
        node = SpanNode(self.trace_id, self.parent_id, kind, name, sender, status, task_id)
        self.nodes.append(node)
        return node

    def current_node(self) -> SpanNode | None:
        """The node under which new nodes nest now (None at a trace's top, or when not sampled)."""
        parent_id = self.parent_id
        if parent_id is None:
            return None
        for node in reversed(self.nodes):
            if node.id == parent_id:
                return node
        return None

    def add_keys(self, node_id: str | None, keys: dict) -> None:
        for key, value in keys.items():
            if key not in BUSINESS_KEYS:
                raise ValueError(f"unknown business key {key!r}; one of {', '.join(BUSINESS_KEYS)}")
            if value is None or value == "":
                continue
            self.keys.setdefault((key, str(value)[:255]), node_id or "")

    def headers(self, parent_id: str | None) -> dict:
        """What a Celery task message carries so the worker joins this trace."""
        return {"cc_trace_id": self.trace_id, "cc_parent_id": parent_id, "cc_sampled": self.sampled}


_current: ContextVar[TraceContext | None] = ContextVar("cc_trace", default=None)


def current() -> TraceContext | None:
    return _current.get()


def current_trace_id() -> str | None:
    ctx = _current.get()
    return ctx.trace_id if ctx is not None else None


_sample_rate: float | None = None  # settings.CC_TRACE_SAMPLE_RATE, read once (the hot path of every send)


def load_settings() -> None:
    """Re-read the tracing settings (at start-up and whenever a test overrides them)."""
    global _sample_rate
    _sample_rate = float(settings.CC_TRACE_SAMPLE_RATE)


def should_sample() -> bool:
    if _sample_rate is None:
        load_settings()
    rate = _sample_rate
    return rate >= 1.0 or (rate > 0.0 and random.random() < rate)


def begin(trace_id: str | None = None, sampled: bool | None = None, parent_id: str | None = None):
    """Make a new trace context current; returns (context, token) for `end`."""
    ctx = TraceContext(trace_id or new_id(), should_sample() if sampled is None else sampled, parent_id)
    return ctx, _current.set(ctx)


def end(ctx: TraceContext, token) -> None:
    """Leave the context and write what it recorded (or hand it to the enclosing `deferred_writes`)."""
    _current.reset(token)
    if ctx.nodes:
        if ctx.subject:
            for node in ctx.nodes:
                if node.parent_id is None:
                    node.subject = ctx.subject[:255]
        held = _held.get()
        if held is None:
            write_nodes(ctx.nodes, ctx.keys)
        else:
            held.append((ctx.nodes, ctx.keys))
        ctx.nodes = []
        ctx.keys = {}


def join(trace_id: str | None, sampled: bool, parent_id: str | None):
    """Continue the trace a task message names, under its parent node: a context of its own, or, when that trace
    is already current here (an eager task run inside the send that queued it, work run in place), the current
    one re-parented. Returns (context, leave): call leave() when the work ends."""
    ctx = current()
    if ctx is None or ctx.trace_id != trace_id:
        ctx, token = begin(trace_id, sampled, parent_id)
        return ctx, partial(end, ctx, token)
    saved, ctx.parent_id = ctx.parent_id, parent_id

    def leave():
        ctx.parent_id = saved

    return ctx, leave


@contextlib.contextmanager
def joined(headers: dict | None):
    """Inside the trace and parent node that `headers` name (TraceContext.headers: what a task message carries),
    for work done later on behalf of that trace; None or empty: the current trace, if any."""
    if not headers:
        yield
        return
    _, leave = join(headers.get("cc_trace_id"), bool(headers.get("cc_sampled")), headers.get("cc_parent_id"))
    try:
        yield
    finally:
        leave()


def carried(fn):
    """`fn` to be called on another thread, inside the current trace under the current node: a branch of this
    trace (its own parent, so that threads never nest into one another; the same nodes and keys), written with
    this thread's trace when it ends. The caller waits for the call before leaving its span."""
    ctx, held = _current.get(), _held.get()
    if ctx is None:
        return fn
    parent_id = ctx.parent_id

    def in_branch(*args, **kwargs):
        branch = TraceContext(ctx.trace_id, ctx.sampled, parent_id)
        branch.nodes, branch.keys = ctx.nodes, ctx.keys  # list.append and dict.setdefault: safe across threads
        token, held_token = _current.set(branch), _held.set(held)
        try:
            return fn(*args, **kwargs)
        finally:
            _held.reset(held_token)
            _current.reset(token)

    return in_branch


_held: ContextVar[list | None] = ContextVar("cc_trace_held", default=None)


@contextlib.contextmanager
def deferred_writes():
    """Hold the traces that end inside the block and write them together when it ends: one INSERT of nodes
    and one of keys (per 500 rows) for all of them, instead of two round trips per trace. For a loop that
    runs many small traces in a row (the bus consumer's batch). Their nodes can still be amended until then;
    a process that dies inside the block loses those traces, never the work. A nested block joins the outer."""
    if _held.get() is not None:
        yield
        return
    held: list = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held:
            write_traces(held)


@contextlib.contextmanager
def trace(trace_id: str | None = None, sampled: bool | None = None, parent_id: str | None = None):
    """Run a block inside a trace: the current one if any (and no id is asked for), else a new one."""
    ctx = current()
    if ctx is not None and (trace_id is None or trace_id == ctx.trace_id):
        yield ctx
        return
    ctx, token = begin(trace_id, sampled, parent_id)
    try:
        yield ctx
    finally:
        end(ctx, token)


@contextlib.contextmanager
def span(kind: str, name: str, sender: str = "", **business_keys):
    """Record a block of work as a node of the current trace (a new trace when there is none).

    The only way an app adds a node. Yields the SpanNode (or None when the trace is not sampled),
    whose outcome() says what the work came to; an exception leaving the block marks it error.
    """
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown node kind {kind!r}; one of {', '.join(NODE_KINDS)}")
    with trace() as ctx:
        if not ctx.sampled:
            yield None
            return
        node = ctx.open_node(kind, name, sender)
        if business_keys:
            ctx.add_keys(node.id, business_keys)
        outer_parent, ctx.parent_id = ctx.parent_id, node.id
        try:
            yield node
        except BaseException as exc:
            node.fail(exc, _traceback.format_exc())
            node.finish(ERROR)
            raise
        else:
            node.finish(OK)
        finally:
            ctx.parent_id = outer_parent


def add_keys(**business_keys) -> None:
    """Attach business keys (order_number=..., payment_id=...) to the current node of the current trace."""
    ctx = _current.get()
    if ctx is not None and ctx.sampled:
        ctx.add_keys(ctx.parent_id, business_keys)


def set_outcome(status: str, reason: str = "", **details) -> None:
    """Declare the outcome of the current node's work (see SpanNode.outcome); nothing when not traced."""
    ctx = _current.get()
    node = ctx.current_node() if ctx is not None else None
    if node is not None:
        node.outcome(status, reason, **details)


def name_trace(subject: str) -> None:
    """Say what the current trace is about (e.g. a webhook's event type); shown as the trace's name."""
    ctx = _current.get()
    if ctx is not None:
        ctx.subject = subject


def worst(statuses) -> str:
    """The worst of some node statuses (a trace's status is its worst node's)."""
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 0), default=OK)


_layout: tuple | None = None  # (columns, [(attribute or None, default, kind, max_length)]) of core.TraceNode


def _node_layout() -> tuple:
    """The INSERT's columns and how to read each from a SpanNode, derived from core.TraceNode's fields, so a
    field added to the model is written (with its default) instead of breaking the INSERT."""
    global _layout
    if _layout is None:
        from django.apps import apps

        readers = []
        fields = apps.get_model("core", "TraceNode")._meta.concrete_fields
        for field in fields:
            attribute = field.attname if field.attname in SpanNode.__slots__ else None
            kind = field.get_internal_type()
            limit = field.max_length if kind == "CharField" else (MAX_TEXT if field.name == "result" else None)
            readers.append((attribute, field.get_default(), kind, limit))
        _layout = (tuple(f.column for f in fields), readers)
    return _layout


def _row(node: SpanNode, readers, adapt_datetime) -> list:
    row = []
    for attribute, default, kind, limit in readers:
        value = getattr(node, attribute) if attribute is not None else default
        if value is not None:
            if kind == "DateTimeField":
                if isinstance(value, float):  # started_at: a time.time() stamp
                    value = datetime.fromtimestamp(value, tz=UTC)
                value = adapt_datetime(value)
            elif limit is not None and isinstance(value, str):
                value = value[:limit]
        row.append(value)
    return row


KEY_COLUMNS = ("trace_id", "node_id", "key", "value")
_insert_sql_cache: dict[tuple[str, str, int], str] = {}


def _insert_sql(connection, table: str, columns: tuple, count: int) -> str:
    """A multi-row INSERT (cached per table and row count; hot path of every traced send)."""
    cache_key = (connection.vendor, table, count)
    sql = _insert_sql_cache.get(cache_key)
    if sql is None:
        qn = connection.ops.quote_name
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = "INSERT INTO {} ({}) VALUES {}".format(
            qn(table), ", ".join(qn(c) for c in columns), ", ".join([placeholders] * count)
        )
        _insert_sql_cache[cache_key] = sql
    return sql


MAX_ROWS_PER_INSERT = 500  # SQLite caps the variables of one statement (32766); 500 nodes x 17 columns stay under


def write_nodes(nodes: list[SpanNode], keys: dict | None = None) -> None:
    """Write one trace's nodes in one INSERT statement (one round trip in autocommit) per 500 nodes, and their
    business keys in one more when there are any. Never raises."""
    write_traces([(nodes, keys or {})])


def write_traces(traces: list[tuple[list[SpanNode], dict]]) -> None:
    """Write the nodes and business keys of several traces, 500 rows per INSERT. Never raises."""
    nodes = [node for trace_nodes, _ in traces for node in trace_nodes]
    first_carrier: dict[tuple, str] = {}  # a key that parts of one trace carried alike is stored once (its first)
    for trace_nodes, keys in traces:
        for (key, value), node_id in keys.items() if trace_nodes else ():
            first_carrier.setdefault((trace_nodes[0].trace_id, key, value), node_id)
    key_rows = [(trace_id, node_id, key, value) for (trace_id, key, value), node_id in first_carrier.items()]
    if not nodes:
        return
    try:
        connection = connections[settings.CC_TRACE_DATABASE]
        adapt = connection.ops.adapt_datetimefield_value
        columns, readers = _node_layout()
        statements = []
        for start in range(0, len(nodes), MAX_ROWS_PER_INSERT):
            chunk = nodes[start : start + MAX_ROWS_PER_INSERT]
            params = [value for node in chunk for value in _row(node, readers, adapt)]
            statements.append((_insert_sql(connection, "core_tracenode", columns, len(chunk)), params))
        for start in range(0, len(key_rows), MAX_ROWS_PER_INSERT):
            chunk = key_rows[start : start + MAX_ROWS_PER_INSERT]
            params = [value for row in chunk for value in row]
            statements.append((_insert_sql(connection, "core_tracekey", KEY_COLUMNS, len(chunk)), params))
        _execute_as_one_transaction(connection, statements)
    except Exception:  # tracing must never break the workflow it traces
        logger.exception("Could not store %d trace node(s) of trace %s", len(nodes), nodes[0].trace_id)


def _execute_as_one_transaction(connection, statements: list[tuple[str, list]]) -> None:
    """The statements in one transaction (one commit, one log flush, instead of one each in autocommit), whole
    or not at all; inside a block already open on the connection (the bus consumer's TraceBatch), part of it.
    In one round trip where the database takes several statements at once (hotsql.execute_together)."""
    in_block = connection.in_atomic_block or len(statements) == 1
    with contextlib.nullcontext() if in_block else transaction.atomic(using=connection.alias):
        hotsql.execute_together(connection, statements)


def jsonable(value):
    """The value itself when JSON can carry it, else its short repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return short_repr(value)


def short_repr(value, limit: int = 500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
