"""What operators may do to orders, as plain functions: the console (and commands) call these, nothing else.

Each re-queues lines through `fulfillment.requeue_lines`, i.e. core's `item.requeue(actor, reason)`: an
`operator` span of its own trace, the line's task published in it, and a `core.WorkAudit` row per line
(who, when, what, why, that trace), which these functions return.
"""

from __future__ import annotations

from django.db.models import Q

from commerce_coordinator.apps.core.models import WorkAudit

from .fulfillment import requeue_lines
from .models import Order, OrderLine, Work

ITEM_TYPE = OrderLine._meta.label_lower


def retry_line(line_id: int, *, actor: str, reason: str) -> WorkAudit | None:
    """Re-queue one line that is not done. Raises OrderLine.DoesNotExist, or ValueError without a reason;
    None when the line is done (nothing to re-queue)."""
    rows = _requeue(OrderLine.objects.filter(pk=line_id), actor, reason, must_exist=True)
    return rows[0] if rows else None


def retry_order(order_number: str, *, actor: str, reason: str) -> list[WorkAudit]:
    """Re-queue an order's dead-lettered lines and those whose task was lost. Raises Order.DoesNotExist."""
    order = Order.objects.get(order_number=order_number)
    stalled = OrderLine.stalled().filter(order=order).values("pk")
    return _requeue(order.lines.filter(Q(status=Work.FAILED) | Q(pk__in=stalled)), actor, reason)


def retry_lines(line_ids, *, actor: str, reason: str) -> list[WorkAudit]:
    """Re-queue many lines (a bulk retry): one audit row each."""
    return _requeue(OrderLine.objects.filter(pk__in=list(line_ids)), actor, reason)


def audit_of_lines(line_ids):
    """The operator audit of these lines, newest first."""
    return WorkAudit.objects.filter(item_type=ITEM_TYPE, item_id__in=[str(pk) for pk in line_ids])


def _requeue(lines, actor: str, reason: str, must_exist: bool = False) -> list[WorkAudit]:
    if not str(reason or "").strip():
        raise ValueError("an operator action needs a reason")
    lines = list(lines.select_related("order").order_by("order_id", "pk"))
    if must_exist and not lines:
        raise OrderLine.DoesNotExist("no such order line")
    before = WorkAudit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    requeue_lines(lines, str(actor), str(reason))
    return list(audit_of_lines([line.pk for line in lines]).filter(pk__gt=before).order_by("pk"))
