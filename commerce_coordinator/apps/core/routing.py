"""CC_SIGNALS: reading the setting, finding what is wrong with it, and wiring signals to receivers.

One analysis serves three readers: the wiring (which connects the entries that
resolve), the system checks (which report the problems) and the signal map
(`show_signals`, `GET /core/signals/`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial

from celery import Task
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from . import tracing
from .signals import (
    ALL_SIGNALS,
    ERROR,
    QUEUED,
    SKIPPED,
    CoordinatorSignal,
    ReceiverResult,
    call_in_process,
    receiver_failed,
    sender_label,
)

logger = logging.getLogger(__name__)

ENTRY_OPTIONS = {"receiver", "switch", "queue"}
# Types that Celery's JSON serialiser (kombu) carries across the broker and back.
JSON_SAFE_TYPES = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    list,
    tuple,
    dict,
    Decimal,
    datetime,
    date,
    time,
    uuid.UUID,
)


@dataclass
class Problem:
    """One thing wrong with CC_SIGNALS, with the stable check id that reports it."""

    id: str
    msg: str
    hint: str
    obj: str


@dataclass
class ReceiverEntry:
    """One receiver entry of one signal in CC_SIGNALS, resolved as far as it goes."""

    signal_path: str
    position: int
    path: str = ""
    switch: str | None = None
    queue: str | None = None
    func: object = None
    is_task: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"CC_SIGNALS[{self.signal_path!r}][{self.position}]"

    @property
    def is_valid(self) -> bool:
        return not any(p.id.startswith("core.E") for p in self.problems)


@dataclass
class SignalEntry:
    """One signal key of CC_SIGNALS with its receivers."""

    path: str
    signal: CoordinatorSignal | None = None
    receivers: list[ReceiverEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"CC_SIGNALS[{self.path!r}]"


@dataclass
class RoutingPlan:
    signals: list[SignalEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # about the setting as a whole

    def all_problems(self) -> list[Problem]:
        found = list(self.problems)
        for s in self.signals:
            found += s.problems
            for r in s.receivers:
                found += r.problems
        return found


def discover_signals() -> list[CoordinatorSignal]:
    """Import every installed app's `signals` module; name and return the CoordinatorSignals declared there."""
    found = []
    for app_config in apps.get_app_configs():
        module_name = f"{app_config.name}.signals"
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr, value in vars(module).items():
            if isinstance(value, CoordinatorSignal):
                value.path = value.path or f"{module_name}.{attr}"
                found.append(value)
    return found


def _import(path: str):
    """Import a dotted path; returns (object, error text)."""
    try:
        return import_string(path), None
    except Exception as exc:  # ImportError, but also errors raised while importing the module
        return None, f"{type(exc).__name__}: {exc}"


def _task_signature(func):
    return inspect.signature(func.run if isinstance(func, Task) else func)


def _check_receiver(entry: ReceiverEntry, signal: CoordinatorSignal | None, known_switches) -> None:
    obj, error = _import(entry.path)
    if error:
        entry.problems.append(
            Problem(
                "core.E004",
                f"{entry.label}: receiver {entry.path!r} does not import ({error}).",
                "Fix the dotted path to a function or Celery task, or remove the entry.",
                entry.label,
            )
        )
        return
    if not callable(obj):
        entry.problems.append(
            Problem(
                "core.E005",
                f"{entry.label}: {entry.path!r} is a {type(obj).__name__}, not a callable.",
                "Name a function or a Celery task.",
                entry.label,
            )
        )
        return
    entry.func, entry.is_task = obj, isinstance(obj, Task)
    if entry.switch is not None and entry.switch not in known_switches:
        entry.problems.append(
            Problem(
                "core.E010",
                f"{entry.label}: waffle switch {entry.switch!r} is not declared.",
                "Declare it in CC_WAFFLE_SWITCHES (provisioning creates it) or fix its name.",
                entry.label,
            )
        )
    if entry.queue is not None and not entry.is_task:
        entry.problems.append(
            Problem(
                "core.E012",
                f"{entry.label}: 'queue' is set but {entry.path!r} runs in process.",
                "Remove 'queue', or make the receiver a Celery task.",
                entry.label,
            )
        )
    if signal is None:
        return
    try:
        _task_signature(obj).bind(sender=None, **dict.fromkeys(signal.arguments))
    except (TypeError, ValueError) as exc:
        entry.problems.append(
            Problem(
                "core.E006",
                f"{entry.label}: {entry.path!r} cannot take the arguments of {signal.path} "
                f"(sender, {', '.join(signal.arguments)}): {exc}.",
                "Give the receiver a keyword parameter for each declared argument and 'sender', or **kwargs.",
                entry.label,
            )
        )
    if entry.is_task:
        unsafe = [n for n, t in signal.arguments.items() if not _json_safe(t)]
        if unsafe:
            entry.problems.append(
                Problem(
                    "core.E007",
                    f"{entry.label}: task receiver {entry.path!r} would get argument(s) "
                    f"{', '.join(unsafe)} that Celery cannot serialise as JSON.",
                    "Declare the arguments as JSON types (str, int, Decimal, list, dict, ...), "
                    "e.g. pass an id instead of a model instance, or run the receiver in process.",
                    entry.label,
                )
            )


def _json_safe(declared) -> bool:
    types = declared if isinstance(declared, tuple) else (declared,)
    return all(isinstance(t, type) and issubclass(t, JSON_SAFE_TYPES) for t in types)


def _parse_receiver(signal_path: str, position: int, raw) -> ReceiverEntry:
    entry = ReceiverEntry(signal_path, position)
    if isinstance(raw, str):
        entry.path = raw
        return entry
    if isinstance(raw, dict):
        unknown = set(raw) - ENTRY_OPTIONS
        bad = [k for k in ENTRY_OPTIONS & set(raw) if not isinstance(raw[k], str) or not raw[k]]
        if "receiver" in raw and not unknown and not bad:
            entry.path, entry.switch, entry.queue = raw["receiver"], raw.get("switch"), raw.get("queue")
            return entry
        what = (
            f"unknown option(s) {sorted(unknown)}"
            if unknown
            else f"option(s) {sorted(bad)} must be non-empty strings"
            if bad
            else "no 'receiver' key"
        )
    else:
        what = f"a {type(raw).__name__}"
    entry.problems.append(
        Problem(
            "core.E001",
            f"{entry.label}: malformed entry ({what}).",
            "An entry is a dotted path, or a dict with 'receiver' and optional 'switch' and 'queue'.",
            entry.label,
        )
    )
    return entry


def analyse(cc_signals=None) -> RoutingPlan:
    """Resolve CC_SIGNALS entry by entry and collect every problem found (never raises)."""
    cc_signals = settings.CC_SIGNALS if cc_signals is None else cc_signals
    plan = RoutingPlan()
    declared = discover_signals()
    if not isinstance(cc_signals, dict):
        plan.problems.append(
            Problem(
                "core.E001",
                f"CC_SIGNALS is a {type(cc_signals).__name__}, not a dict.",
                "Map each signal's dotted path to a list of receivers.",
                "CC_SIGNALS",
            )
        )
        return plan
    known_switches = set(getattr(settings, "CC_WAFFLE_SWITCHES", {}))
    seen_signals: dict[int, str] = {}
    for signal_path, raw_receivers in cc_signals.items():
        entry = SignalEntry(str(signal_path))
        plan.signals.append(entry)
        obj, error = _import(entry.path)
        if error:
            entry.problems.append(
                Problem(
                    "core.E002",
                    f"{entry.label}: signal does not import ({error}).",
                    "Fix the dotted path to a CoordinatorSignal.",
                    entry.label,
                )
            )
        elif not isinstance(obj, CoordinatorSignal):
            entry.problems.append(
                Problem(
                    "core.E003",
                    f"{entry.label}: {type(obj).__name__} is not a CoordinatorSignal.",
                    "Name a CoordinatorSignal instance (declared in an app's signals.py).",
                    entry.label,
                )
            )
        else:
            entry.signal = obj
            obj.path = obj.path or entry.path
            if id(obj) in seen_signals:
                entry.problems.append(
                    Problem(
                        "core.E008",
                        f"{entry.label}: the same signal is routed again under {seen_signals[id(obj)]!r}.",
                        "Merge the two entries into one.",
                        entry.label,
                    )
                )
            seen_signals[id(obj)] = entry.path
            if obj.foreign_connections:
                entry.problems.append(
                    Problem(
                        "core.E011",
                        f"{entry.label}: receiver(s) {', '.join(obj.foreign_connections)} connected in code.",
                        "Remove the connect()/@receiver call and add the receiver to CC_SIGNALS.",
                        entry.label,
                    )
                )
        if not isinstance(raw_receivers, (list, tuple)):
            entry.problems.append(
                Problem(
                    "core.E001",
                    f"{entry.label}: receivers must be a list, not {type(raw_receivers).__name__}.",
                    "Give a list of receivers.",
                    entry.label,
                )
            )
            continue
        if not raw_receivers:
            entry.problems.append(
                Problem(
                    "core.E009",
                    f"{entry.label}: the receiver list is empty.",
                    "Add receivers or remove the entry.",
                    entry.label,
                )
            )
        seen_receivers: set = set()  # by path and by the object itself (one function re-exported elsewhere)
        for position, raw in enumerate(raw_receivers):
            receiver = _parse_receiver(entry.path, position, raw)
            entry.receivers.append(receiver)
            if receiver.problems:
                continue
            if receiver.path not in seen_receivers:
                _check_receiver(receiver, entry.signal, known_switches)
            if receiver.path in seen_receivers or (receiver.func is not None and id(receiver.func) in seen_receivers):
                receiver.problems.append(
                    Problem(
                        "core.E008",
                        f"{receiver.label}: {receiver.path!r} is listed twice for this signal.",
                        "Remove the duplicate.",
                        receiver.label,
                    )
                )
                continue
            seen_receivers.update((receiver.path, id(receiver.func)))
    routed = {id(s.signal) for s in plan.signals if s.signal is not None}
    for signal in ALL_SIGNALS:
        if signal.foreign_connections and id(signal) not in routed:
            plan.problems.append(
                Problem(
                    "core.E011",
                    f"{signal.path or signal!r}: receiver(s) {', '.join(signal.foreign_connections)} connected in "
                    "code; they never run.",
                    "Remove the connect()/@receiver call and route the receiver in CC_SIGNALS.",
                    signal.path or repr(signal),
                )
            )
    for signal in declared:
        if id(signal) not in routed:
            plan.problems.append(
                Problem(
                    "core.W001",
                    f"{signal.path} is declared but CC_SIGNALS routes it nowhere: sending it does nothing.",
                    "Add an entry for it to CC_SIGNALS, or delete the signal.",
                    signal.path,
                )
            )
    return plan


# --- Routes: what a wired signal calls ---------------------------------------------------------


class InProcessRoute:
    __slots__ = ("path", "func")

    def __init__(self, entry: ReceiverEntry):
        self.path, self.func = entry.path, entry.func

    def call(self, ctx, parent_id, sender, kwargs) -> ReceiverResult:
        return call_in_process(self.func, self.path, ctx, parent_id, sender, kwargs)


class TaskRoute:
    """A Celery task receiver: enqueued when the surrounding transaction commits, trace id in its headers."""

    __slots__ = ("path", "task", "queue")
    func = None  # not called in process

    def __init__(self, entry: ReceiverEntry):
        self.path, self.task, self.queue = entry.path, entry.func, entry.queue

    def call(self, ctx, parent_id, sender, kwargs) -> ReceiverResult:
        task_id = str(uuid.uuid4())
        label = sender_label(sender)
        node = None
        if parent_id is not None:
            node = ctx.open_node("receiver", self.path, label, QUEUED, task_id)
            node.finish(QUEUED, 0.0)
        options = {"task_id": task_id, "headers": ctx.headers(node.id if node else None)}
        if self.queue:
            options["queue"] = self.queue
        payload = {"sender": label, **kwargs}
        if ctx.in_atomic:  # published when the transaction commits, never if it rolls back
            if node is not None:
                node.result = ON_COMMIT
            transaction.on_commit(partial(publish, self.task, self.path, payload, options))
            return ReceiverResult(self.path, QUEUED, task_id=task_id, reason=ON_COMMIT)
        try:
            self.task.apply_async(kwargs=payload, **options)
        except Exception as exc:  # the broker refused it: the caller and the trace say so
            return receiver_failed(self.path, node, exc, sender)
        return ReceiverResult(self.path, QUEUED, task_id=task_id)


ON_COMMIT = "to be published when the surrounding transaction commits"


def publish(task, path: str, kwargs: dict, options: dict) -> None:
    """Hand a task to the broker; a failure is logged and recorded in the trace, never raised."""
    try:
        task.apply_async(kwargs=kwargs, **options)
    except Exception as exc:
        headers = options["headers"]
        logger.exception("Could not enqueue %s (task %s, trace %s)", path, options["task_id"], headers["cc_trace_id"])
        if headers["cc_sampled"]:
            node = tracing.SpanNode(
                headers["cc_trace_id"],
                headers["cc_parent_id"],
                "publish",
                path,
                status=ERROR,
                task_id=options["task_id"],
            )
            node.fail(exc, "")
            node.finish(ERROR)
            tracing.write_nodes([node])


class SwitchedRoute:
    """A route that runs only while its waffle switch is on; otherwise the receiver is skipped."""

    __slots__ = ("path", "route", "switch")
    func = None  # its switch decides first

    def __init__(self, route, switch: str):
        self.path, self.route, self.switch = route.path, route, switch

    def call(self, ctx, parent_id, sender, kwargs) -> ReceiverResult:
        from waffle import switch_is_active

        try:
            active = switch_is_active(self.switch)
        except Exception as exc:  # e.g. the cache or the database is down: this receiver fails, the others run
            node = ctx.open_node("receiver", self.path, sender_label(sender)) if parent_id is not None else None
            return receiver_failed(self.path, node, exc, sender)
        if active:
            return self.route.call(ctx, parent_id, sender, kwargs)
        reason = f"waffle switch {self.switch!r} is off"
        if parent_id is not None:
            node = ctx.open_node("receiver", self.path, sender_label(sender), SKIPPED)
            node.result = reason
            node.finish(SKIPPED, 0.0)
        return ReceiverResult(self.path, SKIPPED, reason=reason)


def build_route(entry: ReceiverEntry):
    route = TaskRoute(entry) if entry.is_task else InProcessRoute(entry)
    return SwitchedRoute(route, entry.switch) if entry.switch else route


def wire(cc_signals=None) -> RoutingPlan:
    """Connect every signal to the receivers CC_SIGNALS names; entries with errors are left out."""
    plan = analyse(cc_signals)
    for signal in ALL_SIGNALS:
        signal.routes = ()
    for entry in plan.signals:
        if entry.signal is not None and not any(p.id != "core.E011" for p in entry.problems):
            entry.signal.routes = tuple(build_route(r) for r in entry.receivers if r.is_valid)
    return plan


def signal_map(plan: RoutingPlan | None = None) -> list[dict]:
    """The routing as plain data (for show_signals and the /core/signals/ endpoint)."""
    plan = plan or analyse()
    result = []
    for entry in plan.signals:
        result.append(
            {
                "signal": entry.path,
                "arguments": {
                    n: _describe_type(t) for n, t in (entry.signal.arguments.items() if entry.signal else [])
                },
                "problems": [_problem_dict(p) for p in entry.problems],
                "receivers": [
                    {
                        "receiver": r.path,
                        "mode": "task" if r.is_task else "in_process",
                        "switch": r.switch,
                        "queue": r.queue,
                        "status": "ok" if not r.problems else ("error" if not r.is_valid else "warning"),
                        "description": receiver_description(r.func),
                        "problems": [_problem_dict(p) for p in r.problems],
                    }
                    for r in entry.receivers
                ],
            }
        )
    return result


def receiver_description(func) -> str:
    """What a receiver says it does: its own `describe_route()` (e.g. a dispatcher naming where it
    dispatches to, from its app's settings), else the first line of its docstring."""
    if func is None:
        return ""
    describe = getattr(func, "describe_route", None)
    if callable(describe):
        try:
            return str(describe())
        except Exception as exc:  # the map is a diagnostic: it shows the failure instead of failing
            return f"(describe_route failed: {type(exc).__name__}: {exc})"
    doc = inspect.getdoc(func.run if isinstance(func, Task) else func) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def unrouted_warnings(plan: RoutingPlan) -> list[dict]:
    return [_problem_dict(p) for p in plan.problems]


def _problem_dict(p: Problem) -> dict:
    return {"id": p.id, "message": p.msg, "hint": p.hint}


def _describe_type(declared) -> str:
    types = declared if isinstance(declared, tuple) else (declared,)
    return " | ".join(getattr(t, "__name__", repr(t)) for t in types)


def observed_sends(plan: RoutingPlan | None = None) -> list[dict]:
    """The sends stored traces have seen from inside a receiver: distinct (receiver, signal) pairs.

    A send node's parent (or grandparent, through a span the receiver opened) is the receiver node of an
    in-process receiver, or the task node of a task receiver run in a worker (named by its task name,
    mapped back to the receiver's path here); any other task that sends is reported as itself
    (`"sender_kind": "task"`). One DISTINCT join over the trace nodes; no traces table (an unmigrated
    traces database) means nothing observed yet.
    """
    from django.db import DatabaseError, connections, router

    from .models import TraceNode

    plan = plan or analyse()
    task_receivers = {getattr(r.func, "name", r.path): r.path for s in plan.signals for r in s.receivers if r.is_task}
    connection = connections[router.db_for_read(TraceNode)]
    table = connection.ops.quote_name(TraceNode._meta.db_table)
    # The sender is the send's parent, or its grandparent when the parent is a span (`work`, ...) it opened.
    sql = (
        f"SELECT DISTINCT p.kind, p.name, g.kind, g.name, c.name FROM {table} c "
        f"JOIN {table} p ON p.id = c.parent_id "
        f"LEFT JOIN {table} g ON g.id = p.parent_id AND p.kind NOT IN ('receiver', 'task') "
        "WHERE c.kind = 'send' AND (p.kind IN ('receiver', 'task') OR g.kind IN ('receiver', 'task'))"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
    except DatabaseError:
        logger.warning("No observed sends: the trace nodes cannot be read (is the traces database migrated?)")
        return []
    edges = set()
    for parent_kind, parent_name, grand_kind, grand_name, signal in rows:
        kind, name = (parent_kind, parent_name) if parent_kind in ("receiver", "task") else (grand_kind, grand_name)
        if kind == "task" and name in task_receivers:
            kind, name = "receiver", task_receivers[name]
        edges.add((kind, name, signal))
    return [{"sender": name, "sender_kind": kind, "signal": signal} for kind, name, signal in sorted(edges)]


def map_document(plan: RoutingPlan | None = None) -> dict:
    """The whole map with its warnings and the sends traces observed: what `show_signals --format json`
    prints and /core/signals/ answers."""
    plan = plan or analyse()
    return {"signals": signal_map(plan), "warnings": unrouted_warnings(plan), "observed": observed_sends(plan)}
