"""What operators may do with contracts' manual tasks, as plain functions: the admin, the commands and the
console (ADR 50) call these. Each retry runs under an `operator` span and writes a core.WorkAudit row."""

from __future__ import annotations

from commerce_coordinator.apps.core.models import WorkAudit

from . import lifecycle
from .models import BackendCall, ManualTask

ITEM_TYPE = BackendCall._meta.label_lower


def manual_tasks():
    """Dead-lettered backend calls waiting for an operator, oldest first."""
    return ManualTask.objects.select_related("contract").order_by("finished_at", "pk")


def retry_manual_task(call_pk: int, *, actor: str, reason: str) -> WorkAudit:
    """Re-queue one dead-lettered call. Raises ManualTask.DoesNotExist, or ValueError without a reason."""
    return lifecycle.retry_backend_call(ManualTask.objects.get(pk=call_pk), actor=actor, reason=reason)


def retry_manual_tasks(call_pks, *, actor: str, reason: str) -> list[WorkAudit]:
    """Re-queue many (a bulk retry): only those still dead-lettered, one audit row each."""
    if not str(reason or "").strip():
        raise ValueError("an operator action needs a reason")
    calls = manual_tasks().filter(pk__in=list(call_pks))
    return [lifecycle.retry_backend_call(call, actor=actor, reason=reason) for call in calls]


def audit_of_calls(call_pks):
    """The operator audit of these backend calls, newest first."""
    return WorkAudit.objects.filter(item_type=ITEM_TYPE, item_id__in=[str(pk) for pk in call_pks]).order_by("-pk")
