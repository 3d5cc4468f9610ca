"""Operator actions: each runs in a new trace under an `operator` node, through the plugin apps' public
operations, and leaves an audit row (who, when, what, why, the trace of the re-queued work)."""

from __future__ import annotations

from collections.abc import Callable

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.lms import operations as lms_operations
from commerce_coordinator.apps.payments import operations as payments_operations

from .models import OperatorAction

Action = OperatorAction.Action


def _audited(action: str, actor: str, reason: str, target: str, order_number: str, run: Callable[[], str]):
    """Run `run()` inside a fresh trace whose root is the operator's node, then write the audit row."""
    with tracing.trace(trace_id=tracing.new_id(), sampled=True) as ctx:
        node = ctx.open_node("operator", f"console.{action}", actor)
        ctx.parent_id = node.id
        try:
            outcome = run()
        except Exception as exc:
            node.fail(exc, "")
            node.finish("error")
            raise
        node.result = outcome[:500]
        node.finish("ok")
        trace_id = ctx.trace_id
    return OperatorAction.objects.create(
        actor=actor,
        action=action,
        target=target,
        order_number=order_number,
        reason=reason,
        outcome=outcome,
        trace_id=trace_id,
    )


def retry_line(line, *, actor: str, reason: str) -> OperatorAction:
    number = line.order.order_number

    def run():
        return lms_operations.retry_line(line.pk, actor=actor, reason=reason).summary()

    return _audited(Action.RETRY_LINE, actor, reason, f"line {line.pk} ({line.course_run_key})", number, run)


def retry_order(order_number: str, *, actor: str, reason: str) -> OperatorAction:
    def run():
        return lms_operations.retry_order(order_number, actor=actor, reason=reason).summary()

    return _audited(Action.RETRY_ORDER, actor, reason, f"order {order_number}", order_number, run)


def replay_event(event, *, actor: str, reason: str) -> OperatorAction:
    def run():
        return payments_operations.replay_event(event.pk, actor=actor, reason=reason)

    target = f"{event.provider}:{event.event_id} ({event.type})"
    return _audited(Action.REPLAY_EVENT, actor, reason, target, event.order_number, run)


def bulk(group, item_ids, *, actor: str, reason: str) -> list[OperatorAction]:
    """Act on the previewed items of an attention group that are still in it; one audit row per order or event."""
    wanted = {int(pk) for pk in item_ids}
    items = [item for item in group.items if item.pk in wanted]
    if group.action == "replay":
        return [replay_event(event, actor=actor, reason=reason) for event in items]
    if group.action != "retry_lines":
        return []
    by_order: dict[str, list] = {}
    for item in items:
        by_order.setdefault(item.order.order_number, []).append(item.pk)
    done = []
    for number, pks in by_order.items():

        def run(pks=pks):
            return "; ".join(r.summary() for r in lms_operations.retry_lines(pks, actor=actor, reason=reason))

        target = f"{len(pks)} line(s) of {number} ({group.title[:120]})"
        done.append(_audited(Action.BULK_RETRY, actor, reason, target, number, run))
    return done
