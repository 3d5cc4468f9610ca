"""What the console reads, in one place: orders, lines, webhook events, traces and the audit.

Every page asks these functions, never the models, so a change of the models (the durable-work items,
business keys on trace nodes) is a change here only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast

from commerce_coordinator.apps.contracts import operations as contracts_operations
from commerce_coordinator.apps.core.models import Trace, TraceKey, TraceNode
from commerce_coordinator.apps.core.views import trace_keys
from commerce_coordinator.apps.lms import operations as lms_operations
from commerce_coordinator.apps.lms.models import Order, OrderLine, Work
from commerce_coordinator.apps.payments import operations as payments_operations
from commerce_coordinator.apps.payments.models import WebhookEvent

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# Statuses of work that is still moving: a page showing one of them refreshes itself.
MOVING_LINE_STATUSES = {Work.PENDING, Work.RUNNING, Work.RETRY}
MOVING_EVENT_STATUSES = {WebhookEvent.Status.PENDING, WebhookEvent.Status.RUNNING, WebhookEvent.Status.RETRY}
# Search: trace business keys -> how the page names them.
SEARCHED_TRACE_KEYS = {
    "order_number": "order number",
    "payment_id": "payment id",
    "lms_user_id": "LMS user id",
    "event_id": "event id",
}
RESULT_LIMIT = 50
LMS_USER_ID_DIGITS = 18  # longer digit strings cannot be a user id (PositiveBigIntegerField): not looked up


# --- search ------------------------------------------------------------------------------------


@dataclass
class Match:
    """One record found, with the kind of key that found it (what the operator typed was recognised as)."""

    record: object
    key: str


@dataclass
class SearchResult:
    term: str
    orders: list[Match] = field(default_factory=list)
    events: list[Match] = field(default_factory=list)
    traces: list[Match] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.orders) + len(self.events) + len(self.traces)

    @property
    def trace_records(self) -> list:
        return [m.record for m in self.traces]

    def only_match(self):
        """The one page to jump to: the trace a trace id names, else the one order the term found."""
        by_id = [m for m in self.traces if m.key == "trace id"]
        if len(by_id) == 1:
            return ("trace", by_id[0].record.trace_id)
        if len(self.orders) == 1:
            return ("order", self.orders[0].record.order_number)
        return None


def search(term: str) -> SearchResult:
    """Find orders, webhook events and traces by order number, payment id, LMS user id, event id or trace id."""
    term = term.strip()
    result = SearchResult(term)
    if not term:
        return result
    seen_orders: set[int] = set()
    seen_traces: set[str] = set()

    def add_orders(queryset, key):
        for order in queryset[:RESULT_LIMIT]:
            if order.pk not in seen_orders:
                seen_orders.add(order.pk)
                result.orders.append(Match(order, key))

    def add_traces(roots, key):
        for root in roots:
            if root.trace_id not in seen_traces:
                seen_traces.add(root.trace_id)
                result.traces.append(Match(root, key))

    add_orders(Order.objects.filter(order_number=term), "order number")
    add_orders(Order.objects.filter(payment_id=term), "payment id")
    if term.isdigit() and len(term) <= LMS_USER_ID_DIGITS:
        add_orders(Order.objects.filter(lms_user_id=int(term)), "LMS user id")
    events = WebhookEvent.objects.filter(Q(event_id=term) | Q(payment_id=term) | Q(order_number=term))
    for event in events[:RESULT_LIMIT]:
        key = "event id" if event.event_id == term else ("payment id" if event.payment_id == term else "order number")
        result.events.append(Match(event, key))
        if event.order_number:
            add_orders(Order.objects.filter(order_number=event.order_number), key)
    for key, name in SEARCHED_TRACE_KEYS.items():
        add_traces(Trace.objects.with_status().with_key(key, term).order_by("-started_at")[:RESULT_LIMIT], name)
        if key == "order_number":
            continue
        add_orders(Order.objects.filter(order_number__in=orders_keyed_with(key, term)), name)
    if TRACE_ID.match(term):
        add_traces(traces_by_id([term]), "trace id")
        add_orders(orders_in_trace(term), "trace id")
        for event in WebhookEvent.objects.filter(trace_id=term)[:RESULT_LIMIT]:
            result.events.append(Match(event, "trace id"))
    if not result.count:
        add_orders(Order.objects.filter(order_number__istartswith=term), "order number (prefix)")
    return result


def orders_keyed_with(key: str, value: str) -> list[str]:
    """Order numbers carried by the traces in which some node carried key=value (the trace database)."""
    traces = TraceKey.objects.filter(key=key, value=value).values("trace_id")
    found = TraceKey.objects.filter(trace_id__in=traces, key="order_number").values_list("value", flat=True)
    return list(found.distinct()[:RESULT_LIMIT])


def orders_in_trace(trace_id: str):
    """Orders that a trace touched: recorded in it, or a line last run in it."""
    in_list = Order.objects.annotate(trace_text=Cast("trace_ids", TextField())).filter(trace_text__contains=trace_id)
    by_line = Order.objects.filter(lines__trace_id=trace_id)
    return Order.objects.filter(Q(pk__in=in_list.values("pk")) | Q(pk__in=by_line.values("pk"))).distinct()


# --- traces ------------------------------------------------------------------------------------


def traces_by_id(trace_ids, order_number: str = "") -> list:
    """One row per trace (its first root, with `trace_status`), newest first: these ids, and the traces
    whose nodes carried the order number."""
    ids = [t for t in dict.fromkeys(trace_ids) if t]
    found = Q(trace_id__in=ids)
    if order_number:
        found |= Q(trace_id__in=TraceKey.objects.filter(key="order_number", value=order_number).values("trace_id"))
    if not ids and not order_number:
        return []
    return list(Trace.objects.with_status().filter(found).order_by("-started_at")[:RESULT_LIMIT])


def trace_nodes(trace_id: str) -> list:
    return list(TraceNode.objects.filter(trace_id=trace_id).order_by("started_at", "id"))


def trace_business_keys(trace_id: str) -> dict[str, list[str]]:
    """Business keys a trace carried (key -> values), and the orders it touched even where no node said so."""
    keys = trace_keys(trace_id)
    numbers = keys.setdefault("order_number", [])
    for number in orders_in_trace(trace_id).values_list("order_number", flat=True)[:RESULT_LIMIT]:
        if number not in numbers:
            numbers.append(number)
    if not numbers:
        del keys["order_number"]
    return keys


# --- the case page -----------------------------------------------------------------------------


@dataclass
class Case:
    order: Order
    lines: list
    events: list
    traces: list
    audit: list

    @property
    def moving(self) -> bool:
        return any(line.status in MOVING_LINE_STATUSES for line in self.lines) or any(
            event.status in MOVING_EVENT_STATUSES for event in self.events
        )

    @property
    def failed_lines(self) -> list:
        return [line for line in self.lines if line.status == Work.FAILED]


def order_case(order_number: str) -> Case | None:
    order = Order.objects.filter(order_number=order_number).first()
    if order is None:
        return None
    lines = list(order.lines.all())
    events = list(events_of_order(order))
    audit = audit_of(lines, events)
    trace_ids = [*order.trace_ids, *(line.trace_id for line in lines), *(e.trace_id for e in events)]
    trace_ids += [row.trace_id for row in audit]
    return Case(order, lines, events, traces_by_id(trace_ids, order_number), audit)


def events_of_order(order: Order):
    keys = Q(order_number=order.order_number)
    if order.payment_id:
        keys |= Q(payment_id=order.payment_id)
    return WebhookEvent.objects.filter(keys).order_by("created_at")


def audit_of(lines, events) -> list:
    """What operators did to an order's lines and webhook events (core.WorkAudit), newest first."""
    rows = [*lms_operations.audit_of_lines([ln.pk for ln in lines])]
    rows += payments_operations.audit_of_events([e.pk for e in events])
    return sorted(rows, key=lambda row: (row.created_at, row.pk), reverse=True)


def line(line_id: int):
    return OrderLine.objects.select_related("order").filter(pk=line_id).first()


def event(event_pk: int):
    return WebhookEvent.objects.filter(pk=event_pk).first()


# --- what needs an operator --------------------------------------------------------------------


@dataclass
class Group:
    """Items that failed the same way: one LMS outage is one group, with one bulk retry."""

    key: str
    title: str
    kind: str  # "lines" or "events" or "orders"
    items: list
    action: str = ""  # the bulk action the group offers ("retry_lines", "replay_events") or none

    @property
    def count(self) -> int:
        return len(self.items)


def attention() -> list[Group]:
    """What needs an operator now, grouped by how it failed."""
    return [
        *dead_lettered_line_groups(),
        *stalled_line_groups(),
        *failed_event_groups(),
        *unroutable_event_groups(),
        *refunds_waiting_for_payment(),
        *manual_task_groups(),
    ]


def _key(prefix: str, title: str) -> str:
    """A group's key, stable while the group exists (so a previewed bulk action finds it again)."""
    return f"{prefix}-{hashlib.sha1(title.encode()).hexdigest()[:10]}"


def _error_head(text: str) -> str:
    """The part of an error message that says how it failed (its first line, digits of ids removed)."""
    head = (text or "no error recorded").splitlines()[0][:120]
    return re.sub(r"\b[0-9a-f]{8,}\b", "…", head)


def dead_lettered_line_groups() -> list[Group]:
    lines = OrderLine.objects.filter(status=Work.FAILED).select_related("order").order_by("updated_at")
    groups: dict[tuple, list] = {}
    for item in lines[:1000]:
        groups.setdefault((item.state, item.last_status_code, _error_head(item.last_error)), []).append(item)
    titles = {k: f"{OrderLine.State(k[0]).label}: {f'HTTP {k[1]} ' if k[1] else ''}{k[2]}" for k in groups}
    return [
        Group(_key("dead", titles[k]), titles[k], "lines", items, "retry_lines")
        for k, items in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    ]


def stalled_line_groups() -> list[Group]:
    """Lines that should be moving and are not (their task was lost) for longer than the sweep waits."""
    items = list(OrderLine.stalled().select_related("order")[:1000])
    if not items:
        return []
    return [Group("stalled-lines", "Order lines stalled past the sweep time", "lines", items, "retry_lines")]


def failed_event_groups() -> list[Group]:
    """Dead-lettered webhook events by provider, type and error, and events whose task was lost."""
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).order_by("created_at")
    groups = []
    by_type: dict[str, list] = {}
    for item in failed[:1000]:
        by_type.setdefault(f"{item.provider} {item.type}: {_error_head(item.last_error)}", []).append(item)
    for title, items in by_type.items():
        groups.append(Group(_key("failed", title), f"Failed webhook events, {title}", "events", items, "replay"))
    items = list(WebhookEvent.stalled().order_by("created_at")[:1000])
    if items:
        groups.append(Group("stalled-events", "Webhook events stalled past the sweep time", "events", items, "replay"))
    return groups


def unroutable_event_groups() -> list[Group]:
    """Events acknowledged but naming no order (no metadata): by provider and type, with the reason. They are
    replayed with the order's metadata (`replay_webhook_events --id ... --set-metadata`), not in bulk."""
    unroutable = WebhookEvent.objects.filter(status=WebhookEvent.Status.UNROUTABLE).order_by("created_at")
    by_type: dict[str, list] = {}
    for item in unroutable[:1000]:
        by_type.setdefault(f"{item.provider} {item.type}", []).append(item)
    return [
        Group(_key("unroutable", title), f"Unroutable webhook events (name no order), {title}", "events", items)
        for title, items in by_type.items()
    ]


def refunds_waiting_for_payment() -> list[Group]:
    """Orders refunded before their payment arrived: recorded with no lines, waiting for payment_succeeded."""
    has_lines = OrderLine.objects.filter(order=OuterRef("pk"))
    orders = list(Order.objects.filter(status=Order.Status.REFUNDED).filter(~Exists(has_lines))[:200])
    if not orders:
        return []
    return [Group("refund-before-payment", "Refunds still waiting for their payment", "orders", orders)]


def manual_task_groups() -> list[Group]:
    """Contract-backend calls dead-lettered into manual tasks, by backend, action and error."""
    groups: dict[str, list] = {}
    for task in contracts_operations.manual_tasks()[:1000]:
        title = f"{task.backend} {task.action}: {_error_head(task.last_error)}"
        groups.setdefault(title, []).append(task)
    return [
        Group(
            _key("manual", title),
            f"Contract backend calls failed (manual tasks), {title}",
            "manual",
            items,
            "retry_calls",
        )
        for title, items in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    ]


def group(key: str) -> Group | None:
    return next((g for g in attention() if g.key == key), None)
