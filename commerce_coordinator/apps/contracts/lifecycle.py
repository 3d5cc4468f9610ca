"""The contract state machine: one transition function, and the operations built on it.

Every change of state (or of suspension reasons) goes through `transition`, which refuses any pair
that TRANSITIONS does not list, writes a ContractEvent row (who, why, trace id) in the same
transaction, and sends the lifecycle signal of that pair. The API, the admin, the dunning receivers,
BILLmanager's processing module and the backend calls all use these functions.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from commerce_coordinator.apps.core import tracing

from . import registry, signals
from .models import Action, BackendCall, Contract, ContractEvent, Reason, State

logger = logging.getLogger(__name__)

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (State.CREATED, State.ACTIVATING),
        (State.ACTIVATING, State.ACTIVE),
        (State.ACTIVATING, State.ACTIVATION_FAILED),
        (State.ACTIVATION_FAILED, State.ACTIVATING),  # an operator retries the failed activation
        (State.ACTIVE, State.SUSPENDED),
        (State.SUSPENDED, State.SUSPENDED),  # a reason added or cleared while others remain
        (State.SUSPENDED, State.ACTIVE),  # the last reason cleared
        (State.ACTIVE, State.CANCELLING),
        (State.SUSPENDED, State.CANCELLING),
        (State.CANCELLING, State.CANCELLED),
    }
)

# (from, to) -> the signal sent when the change commits its row (none for reason bookkeeping).
SIGNALS = {
    (State.CREATED, State.ACTIVATING): signals.contract_activating,
    (State.ACTIVATION_FAILED, State.ACTIVATING): signals.contract_activating,
    (State.ACTIVATING, State.ACTIVE): signals.contract_activated,
    (State.ACTIVE, State.SUSPENDED): signals.contract_suspended,
    (State.SUSPENDED, State.ACTIVE): signals.contract_resumed,
    (State.ACTIVE, State.CANCELLING): signals.contract_cancelling,
    (State.SUSPENDED, State.CANCELLING): signals.contract_cancelling,
    (State.CANCELLING, State.CANCELLED): signals.contract_cancelled,
}
WITH_REASON = (signals.contract_suspended, signals.contract_resumed)
DATE_OF = {State.ACTIVE: "activated_at", State.SUSPENDED: "suspended_at", State.CANCELLED: "cancelled_at"}


class TransitionRefused(Exception):
    """The change asked for is not in the state machine's table (or its reason is not one we know)."""

    def __init__(self, contract: Contract, to: str, detail: str = ""):
        self.contract_id, self.from_state, self.to_state = contract.pk, contract.state, to
        super().__init__(detail or f"contract {contract.pk}: {contract.state} -> {to} is not an allowed transition")


def transition(contract: Contract, to: str, *, actor: str, why: str = "", reason: str = "", reasons=None):
    """Move `contract` to state `to` (and its suspension reasons to `reasons`), with an event row and a signal.

    Locks the row, checks the pair against TRANSITIONS, stamps the state's date, writes the event and
    sends the signal, all in one transaction. Returns the ContractEvent; raises TransitionRefused.
    """
    with transaction.atomic():
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        if (locked.state, to) not in TRANSITIONS:
            raise TransitionRefused(locked, to)
        now = timezone.now()
        from_state = locked.state
        kept = sorted(reasons) if reasons is not None else (locked.suspension_reasons if to == State.SUSPENDED else [])
        if (to == State.SUSPENDED) != bool(kept):  # suspended exactly while some reason remains
            raise TransitionRefused(locked, to, f"contract {locked.pk}: {to} with reasons {kept} is not consistent")
        locked.state = to
        locked.updated_at = now
        locked.suspension_reasons = kept
        if to in DATE_OF and from_state != to:
            setattr(locked, DATE_OF[to], now)
        locked.save()
        event = ContractEvent.objects.create(
            contract=locked,
            from_state=from_state,
            to_state=to,
            reason=reason,
            actor=str(actor)[:150],
            why=why,
            trace_id=tracing.current_trace_id() or "",
            created_at=now,
        )
        _copy(locked, contract)
        signal = SIGNALS.get((from_state, to))
        if signal is not None:
            _send(signal, locked, reason=reason)
    if signal is not None:
        contract.refresh_from_db()  # a receiver, or a backend call run on commit, may have moved it on
    return event


def _copy(source: Contract, target: Contract) -> None:
    if target is not source:
        for f in Contract._meta.concrete_fields:
            setattr(target, f.attname, getattr(source, f.attname))


def _send(signal, contract: Contract, **extra):
    kwargs = {"contract_id": contract.pk, "lms_user_id": contract.lms_user_id, "backend": contract.backend}
    if signal in WITH_REASON:
        kwargs["reason"] = extra["reason"]
    elif signal is signals.contract_created:
        kwargs.update(product=contract.product, package=contract.package)
    return signal.send("contracts", **kwargs)


# --- operations -----------------------------------------------------------------------------------


def create_contract(
    *, name: str, lms_user_id: int, product: str, backend: str, package: str = "", actor: str, activate: bool = True
) -> Contract:
    """Record a contract (event row, contract_created) and, unless told otherwise, start its activation.

    Refuses (UnknownBackend) a backend that CC_CONTRACT_BACKENDS does not list.
    """
    registry.plugin_for(backend)
    with tracing.span("work", "contracts.create", str(actor), lms_user_id=lms_user_id):
        with transaction.atomic():
            contract = Contract.objects.create(
                name=name, lms_user_id=lms_user_id, product=product, package=package, backend=backend
            )
            tracing.add_keys(contract_id=contract.pk)
            ContractEvent.objects.create(
                contract=contract,
                to_state=State.CREATED,
                actor=str(actor)[:150],
                why="created",
                trace_id=tracing.current_trace_id() or "",
            )
            _send(signals.contract_created, contract)
            if activate:
                transition(contract, State.ACTIVATING, actor=actor, why="activation on creation")
    contract.refresh_from_db()  # backend calls queued on commit may have completed it (tasks in process)
    return contract


def activate(contract: Contract, *, actor: str, why: str = "") -> ContractEvent | None:
    """Open a created contract (or retry a failed activation); an active or activating one: nothing to do."""
    if contract.state in (State.ACTIVE, State.ACTIVATING):
        return None
    return transition(contract, State.ACTIVATING, actor=actor, why=why or "activate")


def suspend(contract: Contract, reason: str, *, actor: str, why: str = "") -> ContractEvent | None:
    """Add a suspension reason: an active contract becomes suspended; a reason already set changes nothing."""
    _known_reason(contract, reason, State.SUSPENDED)
    with transaction.atomic():
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        if locked.state == State.SUSPENDED and reason in locked.suspension_reasons:
            _copy(locked, contract)
            return None
        reasons = set(locked.suspension_reasons if locked.state == State.SUSPENDED else []) | {reason}
        return transition(
            contract, State.SUSPENDED, actor=actor, why=why or f"suspend: {reason}", reason=reason, reasons=reasons
        )


def resume(contract: Contract, reason: str, *, actor: str, why: str = "") -> ContractEvent | None:
    """Clear one suspension reason: the contract is active again only when no other reason remains."""
    _known_reason(contract, reason, State.ACTIVE)
    with transaction.atomic():
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        if locked.state != State.SUSPENDED or reason not in locked.suspension_reasons:
            _copy(locked, contract)
            return None  # not suspended for that reason: nothing to clear
        remaining = set(locked.suspension_reasons) - {reason}
        to = State.SUSPENDED if remaining else State.ACTIVE
        return transition(
            contract, to, actor=actor, why=why or f"resume: {reason} cleared", reason=reason, reasons=remaining
        )


def cancel(contract: Contract, *, actor: str, why: str = "") -> ContractEvent | None:
    """Close an active or suspended contract at its backend; a cancelled or cancelling one: nothing to do."""
    if contract.state in (State.CANCELLING, State.CANCELLED):
        return None
    return transition(contract, State.CANCELLING, actor=actor, why=why or "cancel")


def _known_reason(contract: Contract, reason: str, to: str) -> None:
    if reason not in Reason.values:
        raise TransitionRefused(
            contract, to, f"unknown suspension reason {reason!r}; one of {', '.join(Reason.values)}"
        )


# --- the backend's side ---------------------------------------------------------------------------

# The state a contract must be in for a backend call of each action to still be wanted.
WANTED_IN = {
    Action.ACTIVATE: (State.ACTIVATING,),
    Action.SUSPEND: (State.SUSPENDED,),
    Action.RESUME: (State.ACTIVE,),
    Action.CANCEL: (State.CANCELLING,),
}
# The state an action completes the contract into (suspend and resume changed it before the call).
COMPLETES_TO = {Action.ACTIVATE: State.ACTIVE, Action.CANCEL: State.CANCELLED}


def complete_without_backend(contract: Contract, action: str) -> ContractEvent | None:
    """A backend with no plugin: the core's information alone completes the action."""
    to = COMPLETES_TO.get(action)
    if to is None:
        return None
    return transition(contract, to, actor=f"backend:{contract.backend}", why="no backend plugin: core only")


def backend_call_done(call: BackendCall, reply) -> ContractEvent | None:
    """Keep what the backend answered and complete the contract's state (idempotent on a redelivery)."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=call.contract_id)
        if reply is not None:
            if reply.activated is not None:
                contract.activated = reply.activated
            if reply.data:
                contract.backend_data = {**contract.backend_data, **reply.data}
            contract.updated_at = timezone.now()
            contract.save(update_fields=["activated", "backend_data", "updated_at"])
        to = COMPLETES_TO.get(call.action)
        if to is None or contract.state != WANTED_IN[call.action][0]:
            return None
        return transition(contract, to, actor=f"backend:{call.backend}", why=f"{call.action} done at the backend")


def backend_call_dead_lettered(call: BackendCall, error: str) -> None:
    """A failed activation marks the contract; every failure sends contract_backend_failed (a manual task waits)."""
    contract = Contract.objects.get(pk=call.contract_id)
    if call.action == Action.ACTIVATE and contract.state == State.ACTIVATING:
        transition(contract, State.ACTIVATION_FAILED, actor=f"backend:{call.backend}", why=error)
    signals.contract_backend_failed.send(
        "contracts",
        contract_id=contract.pk,
        lms_user_id=contract.lms_user_id,
        backend=call.backend,
        action=call.action,
        error=error,
        attempts=call.attempts,
    )


def retry_backend_call(call: BackendCall, *, actor: str, reason: str):
    """An operator's retry of a dead-lettered call: re-queued with an audit row; a failed activation resumes."""
    call = BackendCall.objects.get(pk=call.pk)  # the item itself, not its ManualTask proxy (the audit names it)
    with transaction.atomic():
        audit = call.requeue(actor, reason)
        contract = Contract.objects.get(pk=call.contract_id)
        if call.action == Action.ACTIVATE and contract.state == State.ACTIVATION_FAILED:
            transition(contract, State.ACTIVATING, actor=actor, why=f"retry: {reason}")
    return audit
