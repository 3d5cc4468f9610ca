"""The public plugin API of contracts: the one module of this app that a backend plugin app may import.

A backend plugin subclasses ContractBackend and is named in settings.CC_CONTRACT_BACKENDS under its
backend's name. The contracts app calls it only for contracts of that backend (ADR 0040), always with
a ContractInfo (a plain snapshot, never a model instance), as a durable work item: a RetryableError,
a network error, or a WorkError whose status_code is a 5xx or 429 is retried with backoff; anything
else dead-letters the call into a manual task. This module imports nothing of contracts but itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from commerce_coordinator.apps.core.retries import PermanentError, RetryableError, WorkError

__all__ = [
    "BackendReply",
    "ContractBackend",
    "ContractInfo",
    "PermanentError",
    "ProcessingParam",
    "RetryableError",
    "WorkError",
]


@dataclass(frozen=True)
class ContractInfo:
    """What a plugin is told about a contract (the core's information, plus the data the backend kept)."""

    id: int
    name: str
    lms_user_id: int
    product: str
    package: str
    backend: str
    state: str
    activated: bool
    suspension_reasons: tuple[str, ...] = ()
    backend_data: dict = field(default_factory=dict)
    created_at: datetime | None = None
    activated_at: datetime | None = None
    suspended_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class BackendReply:
    """What a backend answers to an action: its own view of "activated" (None: unchanged) and data to keep."""

    activated: bool | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessingParam:
    """A connection parameter of the backend's BILLmanager processing module (its settings form)."""

    name: str
    label_en: str
    label_ru: str
    secret: bool = False  # crypted="yes": BILLmanager stores it encrypted
    required: bool = False
    check: str = ""  # a BILLmanager input check such as "url"; empty: none
    maxlength: int = 256


class ContractBackend:
    """Base class of a backend plugin; every hook has a harmless default, so a plugin overrides what it needs."""

    #: The BILLmanager item type this backend's processing module serves (default: the backend name).
    item_type: str = ""
    #: Connection parameters of its processing module (features, build_processing_xml, check_connection).
    processing_params: tuple[ProcessingParam, ...] = ()
    #: Human names of the processing module, in English and Russian.
    title_en: str = ""
    title_ru: str = ""
    author: str = "Commerce Coordinator"

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.name!r}>"

    # --- actions at the backend's system (durable work items; raise to fail) --------------------

    def activate(self, contract: ContractInfo) -> BackendReply | None:
        """Open the contract at the backend."""
        return None

    def suspend(self, contract: ContractInfo, reason: str) -> BackendReply | None:
        """Suspend the contract at the backend (`reason`: overdue, admin or abuse)."""
        return None

    def resume(self, contract: ContractInfo) -> BackendReply | None:
        """Resume the contract at the backend: every suspension reason has been cleared."""
        return None

    def cancel(self, contract: ContractInfo) -> BackendReply | None:
        """Close the contract at the backend."""
        return None

    # --- information ------------------------------------------------------------------------------

    def describe(self, contract: ContractInfo) -> Any:
        """The backend's JSON-able representation of the contract; None: show the bare backend name.

        Called when a contract is shown (API, admin); it runs under CONTRACTS_DESCRIBE_TIMEOUT.
        """
        return None

    def stat(self, contracts: list[ContractInfo]) -> dict[int, dict[str, str]]:
        """Usage per contract id (param name -> value), for the processing module's `stat` command."""
        return {}

    def check_connection(self, params: dict[str, str]) -> None:
        """Raise PermanentError (or RetryableError) unless the backend answers with these params."""
        missing = [p.name for p in self.processing_params if p.required and not params.get(p.name)]
        if missing:
            raise PermanentError(f"missing parameter(s): {', '.join(missing)}")

    # --- what the processing module says it can do ----------------------------------------------

    def features(self) -> list[str]:
        """The processing-module commands this backend supports."""
        return ["check_connection", "open", "suspend", "resume", "close", "start", "stop", "stat"]

    def processing_item_type(self) -> str:
        return self.item_type or self.name


def is_backend_class(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, ContractBackend)
