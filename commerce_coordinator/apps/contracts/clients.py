"""Calls out to backend plugins: the actions (inside durable work items) and describe (under a timeout)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings

from . import registry
from .models import Action, BackendCall, Contract
from .plugins import BackendReply, PermanentError

logger = logging.getLogger(__name__)

# describe() runs here so a slow plugin costs the caller the timeout, not the request (a stuck call keeps
# one of these threads until it returns: a plugin must still bound its own I/O).
_describers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="contracts-describe")


def call_backend(call: BackendCall, contract: Contract) -> BackendReply | None:
    """Run one backend call's action at the plugin of the call's backend (and only for its own contracts)."""
    if contract.backend != call.backend:
        raise PermanentError(f"contract {contract.pk} belongs to backend {contract.backend!r}, not {call.backend!r}")
    plugin = registry.plugin_or_none(call.backend)
    if plugin is None:
        raise PermanentError(f"backend {call.backend!r} has no plugin in CC_CONTRACT_BACKENDS (any more)")
    info = contract.info()
    if call.action == Action.SUSPEND:
        reply = plugin.suspend(info, call.suspension_reason)
    else:
        reply = getattr(plugin, call.action)(info)
    if reply is not None and not isinstance(reply, BackendReply):
        raise PermanentError(f"{plugin!r}.{call.action} returned {type(reply).__name__}, not a BackendReply or None")
    return reply


def describe(contract: Contract):
    """The plugin's representation of the contract, or the bare backend name when there is none, it
    raises, or it takes longer than CONTRACTS_DESCRIBE_TIMEOUT (logged; never an error for the caller)."""
    plugin = registry.plugin_or_none(contract.backend)
    if plugin is None:
        return contract.backend
    future = _describers.submit(plugin.describe, contract.info())
    try:
        described = future.result(timeout=settings.CONTRACTS_DESCRIBE_TIMEOUT)
    except FutureTimeout:
        logger.warning(
            "%r.describe of contract %s took longer than %.2fs; showing the bare backend name",
            plugin,
            contract.pk,
            settings.CONTRACTS_DESCRIBE_TIMEOUT,
        )
        return contract.backend
    except Exception:
        logger.exception("%r.describe of contract %s failed; showing the bare backend name", plugin, contract.pk)
        return contract.backend
    return contract.backend if described is None else described
