"""What operators may do to orders, as plain functions: the console (and commands) call these, nothing else.

Each action runs under an `operator` span of its own trace and leaves a `core.WorkAudit` row per line (who,
when, what, why, that trace), as core's durable items do on `requeue`; the re-queued task runs in that trace.
"""

from __future__ import annotations

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.models import WorkAudit

from .fulfillment import requeue_lines
from .models import Order, OrderLine

# Lines an operator retry acts on: dead letters, and lines that should be moving.
RETRY_STATUSES = [*OrderLine.RETRYABLE, *OrderLine.ACTIONS]
ITEM_TYPE = OrderLine._meta.label_lower


def retry_line(line_id: int, *, actor: str, reason: str) -> WorkAudit:
    """Re-queue one failed (or stuck pending) line. Raises OrderLine.DoesNotExist, or ValueError without a reason."""
    return _requeue(OrderLine.objects.select_related("order").get(pk=line_id), actor, reason)


def retry_order(order_number: str, *, actor: str, reason: str) -> list[WorkAudit]:
    """Re-queue every failed or stuck line of an order. Raises Order.DoesNotExist for an unknown number."""
    order = Order.objects.get(order_number=order_number)
    return retry_lines(
        order.lines.filter(status__in=RETRY_STATUSES).values_list("pk", flat=True), actor=actor, reason=reason
    )


def retry_lines(line_ids, *, actor: str, reason: str) -> list[WorkAudit]:
    """Re-queue many lines (a bulk retry): one audit row each."""
    lines = OrderLine.objects.select_related("order").filter(pk__in=list(line_ids)).order_by("order_id", "pk")
    return [_requeue(line, actor, reason) for line in lines]


def audit_of_lines(line_ids):
    """The operator audit of these lines, newest first."""
    return WorkAudit.objects.filter(item_type=ITEM_TYPE, item_id__in=[str(pk) for pk in line_ids])


def _requeue(line: OrderLine, actor: str, reason: str) -> WorkAudit:
    if not str(reason or "").strip():
        raise ValueError("an operator action needs a reason")
    order = line.order
    label = f"order {order.order_number} line {line.course_run_key}"
    keys = {"order_number": order.order_number, "lms_user_id": order.lms_user_id}
    with tracing.span("operator", f"retry {label}", str(actor), **keys):
        [(line, what)] = requeue_lines([line])
        return WorkAudit.objects.create(
            item_type=ITEM_TYPE,
            item_id=str(line.pk),
            item_label=label[:255],
            action="retry",
            actor=str(actor)[:150],
            reason=str(reason),
            outcome=what,
            trace_id=tracing.current_trace_id() or "",
        )
