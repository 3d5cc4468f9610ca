"""Signals of the contract lifecycle; CC_SIGNALS routes them (the backend dispatch is routed here too, ADR 0040)."""

from commerce_coordinator.apps.core.signals import CoordinatorSignal

CONTRACT = {"contract_id": int, "lms_user_id": int, "backend": str}

contract_created = CoordinatorSignal(
    {**CONTRACT, "product": str, "package": str},
    doc="A contract was recorded (state created).",
)
contract_activating = CoordinatorSignal(
    CONTRACT,
    doc="A contract is to be opened at its backend (state activating): the backend dispatch acts on it.",
)
contract_activated = CoordinatorSignal(CONTRACT, doc="The contract is active (its backend, if any, opened it).")
contract_suspended = CoordinatorSignal(
    {**CONTRACT, "reason": str},
    doc="An active contract was suspended for `reason` (overdue, admin, abuse).",
)
contract_resumed = CoordinatorSignal(
    {**CONTRACT, "reason": str},
    doc="The last suspension reason (`reason`) was cleared: the contract is active again.",
)
contract_cancelling = CoordinatorSignal(
    CONTRACT,
    doc="A contract is to be closed at its backend (state cancelling): the backend dispatch acts on it.",
)
contract_cancelled = CoordinatorSignal(CONTRACT, doc="The contract is cancelled (its backend, if any, closed it).")
contract_backend_failed = CoordinatorSignal(
    {**CONTRACT, "action": str, "error": str, "attempts": int},
    doc="A backend call gave up (dead letter): a manual task waits in the admin; "
    "`manage.py retry_contract_calls` re-queues it.",
)
