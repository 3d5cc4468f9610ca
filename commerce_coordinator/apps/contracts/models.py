"""Contracts, their event log, and the durable calls to their backends."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from commerce_coordinator.apps.core import durable

from .plugins import ContractInfo


class State(models.TextChoices):
    CREATED = "created", "Created"
    ACTIVATING = "activating", "Activating at the backend"
    ACTIVE = "active", "Active"
    ACTIVATION_FAILED = "activation_failed", "Activation failed"
    SUSPENDED = "suspended", "Suspended"
    CANCELLING = "cancelling", "Cancelling at the backend"
    CANCELLED = "cancelled", "Cancelled"


class Reason(models.TextChoices):
    """Why a contract is suspended; it is resumed only when every reason is cleared."""

    OVERDUE = "overdue", "Overdue invoice"
    ADMIN = "admin", "Suspended by an administrator"
    ABUSE = "abuse", "Abuse"


class Contract(models.Model):
    """What every contract has, whatever its backend (the backend keeps its own data in backend_data)."""

    name = models.CharField(max_length=255)
    lms_user_id = models.PositiveBigIntegerField(db_index=True)
    product = models.CharField(max_length=255)
    package = models.CharField(max_length=255, blank=True, default="")
    backend = models.CharField(max_length=64, db_index=True, help_text="A key of CC_CONTRACT_BACKENDS.")
    state = models.CharField(max_length=32, choices=State.choices, default=State.CREATED, db_index=True)
    suspension_reasons = models.JSONField(default=list, blank=True, help_text="Active reasons, sorted.")
    activated = models.BooleanField(default=False, help_text="Whether the backend counts it activated.")
    backend_data = models.JSONField(default=dict, blank=True, help_text="What the backend asked to keep.")
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["lms_user_id", "state"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend}, {self.state})"

    @property
    def active(self) -> bool:
        return self.state == State.ACTIVE

    def info(self) -> ContractInfo:
        """The plain snapshot a backend plugin is given."""
        return ContractInfo(
            id=self.pk,
            name=self.name,
            lms_user_id=self.lms_user_id,
            product=self.product,
            package=self.package,
            backend=self.backend,
            state=self.state,
            activated=self.activated,
            suspension_reasons=tuple(self.suspension_reasons),
            backend_data=dict(self.backend_data),
            created_at=self.created_at,
            activated_at=self.activated_at,
            suspended_at=self.suspended_at,
            cancelled_at=self.cancelled_at,
        )


class ContractEvent(models.Model):
    """One change of a contract: from which state to which, who did it, why, under which trace."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=32, blank=True, default="")
    to_state = models.CharField(max_length=32)
    reason = models.CharField(max_length=16, blank=True, default="", help_text="The suspension reason set or cleared.")
    actor = models.CharField(max_length=150)
    why = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.contract_id}: {self.from_state or '-'} -> {self.to_state} by {self.actor}"


class Action(models.TextChoices):
    ACTIVATE = "activate", "Activate"
    SUSPEND = "suspend", "Suspend"
    RESUME = "resume", "Resume"
    CANCEL = "cancel", "Cancel"


class BackendCall(durable.DurableWorkItem):
    """One action at a contract's backend, as a durable work item (retried, then a manual task)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="backend_calls")
    backend = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    suspension_reason = models.CharField(max_length=16, blank=True, default="", help_text="For suspend and resume.")
    result = models.JSONField(null=True, blank=True)

    retry_schedule_setting = "CONTRACTS_BACKEND_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.contracts.tasks.run_backend_call"

    class Meta:
        indexes = [models.Index(fields=["contract", "action", "status"])]

    def __str__(self) -> str:
        return f"{self.action} contract {self.contract_id} at {self.backend} ({self.status})"

    def key_values(self) -> dict:
        return {"contract_id": self.contract_id}

    def work_label(self) -> str:
        return f"contracts.{self.action}@{self.backend}:contract {self.contract_id}"

    def on_dead_letter(self, reason: str) -> None:
        from .lifecycle import backend_call_dead_lettered

        backend_call_dead_lettered(self, reason)


class ManualTaskManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(status=durable.WorkStatus.FAILED)


class ManualTask(BackendCall):
    """A dead-lettered backend call, waiting for an operator to fix the cause and retry it."""

    objects = ManualTaskManager()

    class Meta:
        proxy = True
        verbose_name = "manual task"
