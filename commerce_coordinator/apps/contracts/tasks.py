"""Celery tasks of contracts: one backend call (a durable work item) per task."""

from celery import shared_task

from commerce_coordinator.apps.core import durable

from . import clients, lifecycle
from .models import BackendCall, Contract


def perform_backend_call(call: BackendCall):
    """The work of one call: skipped when the contract has moved on, else the plugin acts and the state completes."""
    contract = Contract.objects.get(pk=call.contract_id)
    if contract.state not in lifecycle.WANTED_IN[call.action]:
        return f"superseded: the contract is {contract.state} now"
    reply = clients.call_backend(call, contract)
    lifecycle.backend_call_done(call, reply)
    result = {"activated": reply.activated, "data": reply.data} if reply is not None else {}
    BackendCall.objects.filter(pk=call.pk).update(result=result)
    return result or "ok"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="contracts.run_backend_call")
def run_backend_call(self, call_pk: int):
    """Act at a contract's backend; retried on CONTRACTS_BACKEND_RETRY_SCHEDULE, then a manual task."""
    return durable.run(BackendCall, call_pk, self, perform_backend_call)
