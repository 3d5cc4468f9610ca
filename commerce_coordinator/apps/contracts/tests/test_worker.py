"""A real Celery worker on Redis runs the backend calls: the smt contract is activated and cancelled in the
worker, within the trace of the change that asked for it."""

import pytest

from commerce_coordinator.apps.contracts import lifecycle
from commerce_coordinator.apps.contracts.models import BackendCall, Contract, State
from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]


def reaches(contract_id: int, state: str) -> Contract | None:
    return Contract.objects.filter(pk=contract_id, state=state).first()


def test_a_worker_activates_and_cancels_an_smt_contract_in_the_changes_trace(celery_worker):
    with tracing.trace() as ctx:
        contract = lifecycle.create_contract(name="W-1", lms_user_id=3, product="p", backend="smt", actor="test")
    assert contract.state == State.ACTIVATING  # the call runs in the worker, not here
    active = wait_until(lambda: reaches(contract.pk, State.ACTIVE), timeout=45, message="the worker to activate it")
    assert active.activated and active.events.last().actor == "backend:smt"
    # The contract is active once the backend call's work commits; the call itself is finished a moment later.
    call = wait_until(
        lambda: BackendCall.objects.filter(contract=contract, status="done").first(), message="the call finished"
    )
    assert call.trace_id == ctx.trace_id
    work = wait_until(
        lambda: TraceNode.objects.filter(trace_id=ctx.trace_id, kind="work").first(), message="the work node"
    )
    assert work.status == "ok"
    lifecycle.cancel(active, actor="test")
    cancelled = wait_until(lambda: reaches(contract.pk, State.CANCELLED), timeout=45, message="the cancel")
    assert not cancelled.activated
