"""Operator actions, through the plugin apps' public operations (each writes its own core.WorkAudit rows)."""

from __future__ import annotations

from commerce_coordinator.apps.contracts import operations as contracts_operations
from commerce_coordinator.apps.lms import operations as lms_operations
from commerce_coordinator.apps.payments import operations as payments_operations


def retry_line(line, *, actor: str, reason: str) -> list:
    return [lms_operations.retry_line(line.pk, actor=actor, reason=reason)]


def retry_order(order_number: str, *, actor: str, reason: str) -> list:
    return lms_operations.retry_order(order_number, actor=actor, reason=reason)


def replay_event(event, *, actor: str, reason: str) -> list:
    return [payments_operations.replay_event(event.pk, actor=actor, reason=reason)]


def bulk(group, item_ids, *, actor: str, reason: str) -> list:
    """Act on the previewed items of an attention group that are still in it; one audit row per item."""
    try:
        wanted = {int(pk) for pk in item_ids}
    except ValueError:
        raise ValueError("Item ids must be numbers.")
    pks = [item.pk for item in group.items if item.pk in wanted]
    if group.action == "replay":
        return [payments_operations.replay_event(pk, actor=actor, reason=reason) for pk in pks]
    if group.action == "retry_lines":
        return lms_operations.retry_lines(pks, actor=actor, reason=reason)
    if group.action == "retry_calls":
        return contracts_operations.retry_manual_tasks(pks, actor=actor, reason=reason)
    return []
