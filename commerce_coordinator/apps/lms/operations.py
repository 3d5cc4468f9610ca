"""What operators may do to orders, as plain functions: the console and commands call these, nothing else.

Each takes the acting operator and their reason, so that the durable-work audit can record them; the
caller runs it inside the trace that the re-queued work joins.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fulfillment import requeue_lines
from .models import Order, OrderLine


@dataclass(frozen=True)
class Requeued:
    """What one operator action did: the lines it looked at and, for each, what happened."""

    order_number: str
    done: list[tuple[int, str]]

    @property
    def count(self) -> int:
        return sum(1 for _, what in self.done if what.startswith("re-queued"))

    def summary(self) -> str:
        return "; ".join(f"line {pk}: {what}" for pk, what in self.done) or "no line to re-queue"


def retry_line(line_id: int, *, actor: str, reason: str) -> Requeued:
    """Re-queue one failed (or stuck pending) line. Raises OrderLine.DoesNotExist for an unknown id."""
    line = OrderLine.objects.select_related("order").get(pk=line_id)
    return _requeue(line.order.order_number, [line])


def retry_order(order_number: str, *, actor: str, reason: str) -> Requeued:
    """Re-queue every failed or stuck line of an order. Raises Order.DoesNotExist for an unknown number."""
    order = Order.objects.get(order_number=order_number)
    return _requeue(order_number, list(order.lines.filter(status__in=RETRY_STATUSES)))


def retry_lines(line_ids, *, actor: str, reason: str) -> list[Requeued]:
    """Re-queue many lines (a bulk retry), one result per order."""
    lines = OrderLine.objects.select_related("order").filter(pk__in=list(line_ids)).order_by("order_id", "pk")
    by_order: dict[str, list[OrderLine]] = {}
    for line in lines:
        by_order.setdefault(line.order.order_number, []).append(line)
    return [_requeue(number, group) for number, group in by_order.items()]


# Lines an operator retry acts on: dead letters and lines that should be moving.
RETRY_STATUSES = [*OrderLine.RETRYABLE, *OrderLine.ACTIONS]


def _requeue(order_number: str, lines: list[OrderLine]) -> Requeued:
    return Requeued(order_number, [(line.pk, what) for line, what in requeue_lines(lines)])
