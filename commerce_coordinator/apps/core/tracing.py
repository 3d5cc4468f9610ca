"""Signal traces: the context that ties every hop of a workflow to one trace id, and its recorder.

A trace is a tree of nodes (sends, receiver calls, task runs). Nodes are kept in
memory while the top-level send (or task run) is under way and written when it
ends, in one INSERT on the trace database's own connection, so a trace survives
the rollback of the work it traced (docs/decisions/0003-traces.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from contextvars import ContextVar
from datetime import UTC, datetime

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

NODE_COLUMNS = (
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
)
MAX_TEXT = 4000


def new_id() -> str:
    """A 32-hex-digit id for a trace or a node (random, not secret)."""
    return f"{random.getrandbits(128):032x}"


class TraceNode:
    """One node of a trace while it is being recorded (a row of core_tracenode once flushed)."""

    __slots__ = NODE_COLUMNS + ("_t0",)

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

    def finish(self, status: str, duration_ms: float | None = None) -> None:
        self.status = status
        self.duration_ms = (time.perf_counter() - self._t0) * 1000 if duration_ms is None else duration_ms

    def fail(self, error: BaseException, traceback_text: str) -> None:
        self.error_type = type(error).__qualname__
        self.error_message = str(error)[:MAX_TEXT]
        self.traceback = traceback_text


class TraceContext:
    """What a process knows of the trace it is working in: id, sampling, current parent, pending nodes."""

    __slots__ = ("trace_id", "sampled", "parent_id", "nodes", "in_atomic")

    def __init__(self, trace_id: str, sampled: bool, parent_id: str | None = None):
        self.trace_id = trace_id
        self.sampled = sampled
        self.parent_id = parent_id
        self.nodes: list[TraceNode] = []
        self.in_atomic = False  # is the send under way inside a database transaction?

    def open_node(self, kind: str, name: str, sender: str = "", status: str = "running", task_id=None) -> TraceNode:
        node = TraceNode(self.trace_id, self.parent_id, kind, name, sender, status, task_id)
        self.nodes.append(node)
        return node

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
    """Leave the context and write what it recorded."""
    _current.reset(token)
    if ctx.nodes:
        write_nodes(ctx.nodes)
        ctx.nodes = []


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


def _row(node: TraceNode, adapt_datetime) -> tuple:
    started = adapt_datetime(datetime.fromtimestamp(node.started_at, tz=UTC))
    return (
        node.id,
        node.trace_id,
        node.parent_id,
        node.kind,
        node.name[:255],
        node.sender[:255],
        node.status,
        started,
        node.duration_ms,
        node.result[:MAX_TEXT],
        node.error_type[:255],
        node.error_message,
        node.traceback,
        node.task_id,
    )


_insert_sql_cache: dict[tuple[str, int], str] = {}


def _insert_sql(connection, count: int) -> str:
    key = (connection.vendor, count)
    sql = _insert_sql_cache.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        placeholders = "(" + ", ".join(["%s"] * len(NODE_COLUMNS)) + ")"
        sql = "INSERT INTO {} ({}) VALUES {}".format(
            qn("core_tracenode"),
            ", ".join(qn(c) for c in NODE_COLUMNS),
            ", ".join([placeholders] * count),
        )
        _insert_sql_cache[key] = sql
    return sql


MAX_ROWS_PER_INSERT = 500  # SQLite caps the variables of one statement; 500 nodes x 14 columns stay under it


def write_nodes(nodes: list[TraceNode]) -> None:
    """Write nodes in one INSERT statement (one round trip in autocommit) per 500 nodes. Never raises."""
    try:
        connection = connections[settings.CC_TRACE_DATABASE]
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            for start in range(0, len(nodes), MAX_ROWS_PER_INSERT):
                chunk = nodes[start : start + MAX_ROWS_PER_INSERT]
                params = [value for node in chunk for value in _row(node, adapt)]
                cursor.execute(_insert_sql(connection, len(chunk)), params)
    except Exception:  # tracing must never break the workflow it traces
        logger.exception("Could not store %d trace node(s) of trace %s", len(nodes), nodes[0].trace_id)


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
