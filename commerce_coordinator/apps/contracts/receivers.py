"""Receivers that CC_SIGNALS may name. They take the signals' declared arguments as keywords.

The backend dispatch (ADR 0040): contract_activating, contract_suspended, contract_resumed and
contract_cancelling are each routed to one receiver here, which looks the contract's own backend up
in CC_CONTRACT_BACKENDS and queues a durable call of that backend's plugin only. Each describes the
registry it dispatches to in the signal map (`show_signals`, /core/signals/).

The dunning signals come from the invoicing app, which this app never imports:
    account_overdue(account: dict, level: str, invoice: dict, days_overdue: int)   account_cleared(account: dict)
where `account` has at least `account_id` and `lms_user_id`, and `invoice` a `number`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core.durable import WorkStatus

from . import lifecycle, registry
from .models import Action, BackendCall, Contract, Reason, State

logger = logging.getLogger(__name__)


def dispatch(action: str, contract_id: int, reason: str = "") -> dict:
    """Queue `action` at the plugin of the contract's own backend (one moving call per action), or complete
    it on the core's information when the backend is configured with no plugin. A backend that is not
    configured at all still gets its call: it dead-letters into a manual task that names the problem."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        if registry.has_no_plugin(contract.backend):
            lifecycle.complete_without_backend(contract, action)
            return {"contract_id": contract_id, "backend": contract.backend, "plugin": None, "action": action}
        calls = BackendCall.objects.filter(contract=contract, action=action)
        moving = BackendCall.moving().filter(contract=contract, action=action).first()
        if moving is not None:  # e.g. an operator's retry re-queued it just before this transition
            return {"contract_id": contract_id, "backend": contract.backend, "backend_call": moving.pk, "queued": False}
        failed = calls.filter(status=WorkStatus.FAILED).order_by("-pk").first()
        if failed is not None:  # asked again (e.g. BILLmanager's open after a failed one): its manual task retries
            event = contract.events.order_by("-pk").first()
            failed.requeue(event.actor, f"asked again: {event.why or action}", suspension_reason=reason)
            return {"contract_id": contract_id, "backend": contract.backend, "backend_call": failed.pk, "queued": True}
        call = BackendCall.objects.create(
            contract=contract, backend=contract.backend, action=action, suspension_reason=reason
        )
        call.enqueue()
    return {"contract_id": contract_id, "backend": contract.backend, "backend_call": call.pk, "queued": True}


def _routes_to_registry(func):
    """Let the signal map show, beside the receiver, which plugin acts for which backend."""

    def describe_route() -> str:
        backends = "; ".join(f"{name} -> {what}" for name, what in registry.summary().items())
        return f"dispatches to the contract's own backend plugin (CC_CONTRACT_BACKENDS: {backends or 'empty'})"

    func.describe_route = describe_route
    return func


@_routes_to_registry
def activate_at_backend(sender, contract_id, lms_user_id, backend, **kwargs):
    """contract_activating: open the contract at its backend."""
    return dispatch(Action.ACTIVATE, contract_id)


@_routes_to_registry
def suspend_at_backend(sender, contract_id, lms_user_id, backend, reason, **kwargs):
    """contract_suspended: suspend the contract at its backend."""
    return dispatch(Action.SUSPEND, contract_id, reason)


@_routes_to_registry
def resume_at_backend(sender, contract_id, lms_user_id, backend, reason, **kwargs):
    """contract_resumed: resume the contract at its backend."""
    return dispatch(Action.RESUME, contract_id, reason)


@_routes_to_registry
def cancel_at_backend(sender, contract_id, lms_user_id, backend, **kwargs):
    """contract_cancelling: close the contract at its backend."""
    return dispatch(Action.CANCEL, contract_id)


def log_contract_change(sender, contract_id, lms_user_id, backend, **kwargs):
    """A log line for a lifecycle notification (created, activated, cancelled)."""
    logger.info("Contract %s (%s, user %s): %s", contract_id, backend, lms_user_id, kwargs or "changed")
    return {"contract_id": contract_id, "logged": True}


def log_backend_failed(sender, contract_id, lms_user_id, backend, action, error, attempts, **kwargs):
    logger.error(
        "Contract %s: %s at %s gave up after %d attempt(s): %s. A manual task waits in the admin; "
        "fix the cause, then retry it there or run `manage.py retry_contract_calls --contract %s`.",
        contract_id,
        action,
        backend,
        attempts,
        error,
        contract_id,
    )
    return {"contract_id": contract_id, "logged": "backend_failed"}


# --- the dunning link -----------------------------------------------------------------------------


def _user_contracts(account: dict, states) -> list[Contract]:
    return list(Contract.objects.filter(lms_user_id=int(account["lms_user_id"]), state__in=states).order_by("pk"))


def _each(contracts, change) -> dict:
    """Apply `change` to each contract on its own, so one contract's refusal never stops the others."""
    changed, unchanged, refused = [], [], {}
    for contract in contracts:
        try:
            event = change(contract)
        except lifecycle.TransitionRefused as exc:
            refused[contract.pk] = str(exc)
            continue
        (changed if event is not None else unchanged).append(contract.pk)
    return {"changed": changed, "unchanged": unchanged, "refused": refused}


def suspend_overdue_account(sender, account, level, invoice, days_overdue, **kwargs):
    """account_overdue: at a suspending level (CONTRACTS_SUSPEND_AT_LEVELS), suspend the account's contracts."""
    if level not in settings.CONTRACTS_SUSPEND_AT_LEVELS:
        return {"account_id": account.get("account_id"), "skipped": f"level {level!r} does not suspend"}
    number = invoice.get("number") if isinstance(invoice, dict) else invoice
    why = f"account {account.get('account_id')} overdue {days_overdue} day(s) ({level}), invoice {number}"
    contracts = _user_contracts(account, (State.ACTIVE, State.SUSPENDED))
    result = _each(contracts, lambda c: lifecycle.suspend(c, Reason.OVERDUE, actor="dunning", why=why))
    return {"account_id": account.get("account_id"), **result}


def resume_cleared_account(sender, account, **kwargs):
    """account_cleared: clear the overdue reason; a contract also suspended for another reason stays suspended."""
    why = f"account {account.get('account_id')} cleared"
    contracts = _user_contracts(account, (State.SUSPENDED,))
    result = _each(contracts, lambda c: lifecycle.resume(c, Reason.OVERDUE, actor="dunning", why=why))
    return {"account_id": account.get("account_id"), **result}
