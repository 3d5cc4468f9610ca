"""The backend dispatch: a plugin acts only on its own backend's contracts, a failing backend blocks no other,
backend calls are durable work items (retried, then a manual task an operator retries with an audit row)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from commerce_coordinator.apps.contracts import lifecycle, operations, receivers
from commerce_coordinator.apps.contracts.models import Action, BackendCall, Contract, ManualTask, Reason, State
from commerce_coordinator.apps.contracts.plugins import PermanentError, RetryableError
from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.durable import WorkStatus
from commerce_coordinator.apps.core.models import TraceKey, TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .recorders import SIGNALS, names
from .test_lifecycle import new

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def test_each_plugin_acts_only_on_contracts_of_its_own_backend(backends):
    a = new("alpha", name="A")
    b = new("beta", name="B")
    lifecycle.suspend(b, Reason.ADMIN, actor="t")
    lifecycle.cancel(a, actor="t")
    assert backends.CALLS == [
        ("alpha", "activate", a.pk),
        ("beta", "activate", b.pk),
        ("beta", "suspend", b.pk),
        ("alpha", "cancel", a.pk),
    ]


def test_a_failing_backend_never_blocks_another(backends, signals_sent):
    backends.SCRIPT["beta"] = [PermanentError("beta refuses")]
    b = new("beta", name="B")
    a = new("alpha", name="A")
    assert b.state == State.ACTIVATION_FAILED and a.state == State.ACTIVE
    assert ("alpha", "activate", a.pk) in backends.CALLS


def test_a_backend_with_no_plugin_keeps_working_on_the_core_information(backends):
    contract = new("net")
    assert contract.state == State.ACTIVE and not contract.activated
    lifecycle.suspend(contract, Reason.OVERDUE, actor="t")
    lifecycle.cancel(contract, actor="t")
    assert contract.state == State.CANCELLED
    assert not BackendCall.objects.filter(contract=contract).exists() and backends.CALLS == []


def test_a_retryable_failure_is_retried_and_the_call_completes(backends):
    backends.SCRIPT["alpha"] = [RetryableError("busy", status_code=503), ConnectionError("reset")]
    contract = new("alpha")
    call = BackendCall.objects.get(contract=contract, action=Action.ACTIVATE)
    assert (call.status, call.attempts) == (WorkStatus.DONE, 3)
    assert contract.state == State.ACTIVE and contract.backend_data == {"last": "activate"}
    assert TraceNode.objects.filter(trace_id=call.trace_id, status="retry").count() >= 2


def test_a_permanent_failure_becomes_a_manual_task_and_a_failed_signal(backends, signals_sent):
    backends.SCRIPT["alpha"] = [PermanentError("contract unknown at the backend", status_code=404)]
    contract = new("alpha")
    task = ManualTask.objects.get()
    assert (task.contract_id, task.action, task.attempts, task.last_status_code) == (contract.pk, "activate", 1, 404)
    assert contract.state == State.ACTIVATION_FAILED
    failed = [kwargs for name, kwargs in SIGNALS if name == "contract_backend_failed"]
    assert failed == [
        {
            "contract_id": contract.pk,
            "lms_user_id": 7,
            "backend": "alpha",
            "action": "activate",
            "error": "contract unknown at the backend",
            "attempts": 1,
        }
    ]
    assert TraceKey.objects.filter(key="contract_id", value=str(contract.pk)).exists()


def test_retries_exhausted_dead_letter_the_call(backends):
    backends.SCRIPT["alpha"] = [RetryableError("down")] * 3  # the first try and the two retries of the schedule
    contract = new("alpha")
    task = ManualTask.objects.get()
    assert task.attempts == 3 and "retries exhausted" in task.last_error
    assert contract.state == State.ACTIVATION_FAILED


def test_an_operator_retry_of_a_manual_task_completes_it_with_an_audit_row(backends, signals_sent):
    backends.SCRIPT["alpha"] = [PermanentError("credentials expired")]
    contract = new("alpha")
    task = ManualTask.objects.get()
    audit = lifecycle.retry_backend_call(task, actor="ops", reason="credentials renewed")
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE and not ManualTask.objects.exists()
    assert BackendCall.objects.filter(contract=contract).count() == 1  # the same call, not a second one
    assert (audit.actor, audit.reason, audit.item_type) == ("ops", "credentials renewed", "contracts.backendcall")
    assert WorkAudit.objects.filter(item_id=str(task.pk)).exists()
    assert names().count("contract_activating") == 2 and names()[-1] == "contract_activated"


def test_retry_contract_calls_command_requeues_dead_letters(backends):
    backends.SCRIPT["beta"] = [PermanentError("no")]
    contract = new("beta")
    with pytest.raises(lifecycle.TransitionRefused):  # a contract whose activation failed cannot be suspended
        lifecycle.suspend(contract, Reason.ABUSE, actor="t")
    call_command("retry_contract_calls", "--contract", str(contract.pk), "--reason", "fixed", "--actor", "ops")
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE and WorkAudit.objects.get().actor == "ops"


def test_a_call_whose_contract_moved_on_is_skipped_not_played(backends):
    contract = new("alpha")
    lifecycle.suspend(contract, Reason.ADMIN, actor="t")
    lifecycle.resume(contract, Reason.ADMIN, actor="t")
    suspend_call = BackendCall.objects.get(contract=contract, action=Action.SUSPEND)
    suspend_call.enqueue()  # e.g. a redelivery or a late retry, after the contract was resumed
    suspend_call.refresh_from_db()
    assert suspend_call.status == WorkStatus.DONE
    assert backends.CALLS.count(("alpha", "suspend", contract.pk)) == 1


def test_the_dispatch_queues_one_moving_call_per_contract_and_action(backends):
    contract = new("alpha", activate=False)
    Contract.objects.filter(pk=contract.pk).update(state=State.ACTIVATING)
    first = BackendCall.objects.create(contract=contract, backend="alpha", action=Action.ACTIVATE)
    assert receivers.dispatch(Action.ACTIVATE, contract.pk)["backend_call"] == first.pk
    assert BackendCall.objects.filter(contract=contract).count() == 1


@pytest.mark.parametrize("status, attempts, final", [(503, 2, WorkStatus.DONE), (429, 2, WorkStatus.DONE)])
def test_http_5xx_and_429_from_a_backend_are_retried(backends, httpserver, status, attempts, final):
    httpserver.expect_ordered_request("/activate").respond_with_data("busy", status=status)
    httpserver.expect_ordered_request("/activate").respond_with_data("ok", status=200)
    backends.URLS["web"] = httpserver.url_for("").rstrip("/")
    contract = new("web")
    call = BackendCall.objects.get(contract=contract)
    assert (call.status, call.attempts) == (final, attempts) and contract.state == State.ACTIVE


def test_http_4xx_from_a_backend_is_not_retried(backends, httpserver):
    httpserver.expect_request("/activate").respond_with_data("no such plan", status=422)
    backends.URLS["web"] = httpserver.url_for("").rstrip("/")
    contract = new("web")
    assert ManualTask.objects.get(contract=contract).attempts == 1 and len(httpserver.log) == 1


def test_a_backend_missing_from_the_settings_gets_a_manual_task_naming_it(backends, settings):
    contract = new("alpha", activate=False)
    Contract.objects.filter(pk=contract.pk).update(backend="legacy")
    contract.refresh_from_db()
    lifecycle.activate(contract, actor="t")
    task = ManualTask.objects.get(contract=contract)
    assert "'legacy' has no plugin in CC_CONTRACT_BACKENDS" in task.last_error
    assert contract.state == State.ACTIVATION_FAILED
    settings.CC_CONTRACT_BACKENDS = {**settings.CC_CONTRACT_BACKENDS, "legacy": settings.CC_CONTRACT_BACKENDS["alpha"]}
    lifecycle.retry_backend_call(task, actor="ops", reason="legacy configured")
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE


def test_a_call_whose_task_was_lost_is_found_by_the_core_sweep(backends):
    contract = new("alpha", activate=False)
    Contract.objects.filter(pk=contract.pk).update(state=State.ACTIVATING)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    BackendCall.objects.create(contract=contract, backend="alpha", action=Action.ACTIVATE, updated_at=an_hour_ago)
    assert durable.sweep() == {"contracts.backendcall": 1}
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE


def test_asking_again_after_a_failure_retries_its_manual_task_instead_of_adding_a_call(backends):
    backends.SCRIPT["alpha"] = [PermanentError("plan unknown")]
    contract = new("alpha")
    assert contract.state == State.ACTIVATION_FAILED
    lifecycle.activate(contract, actor="billmanager", why="BILLmanager open")
    assert contract.state == State.ACTIVE and not ManualTask.objects.exists()
    assert BackendCall.objects.filter(contract=contract).count() == 1
    audit = WorkAudit.objects.get()
    assert (audit.actor, audit.reason) == ("billmanager", "asked again: BILLmanager open")


def test_operations_retry_dead_letters_only_with_a_reason_and_list_their_audit(backends):
    backends.SCRIPT["alpha"] = [PermanentError("no"), PermanentError("no")]
    first, second = new("alpha", name="1"), new("alpha", name="2")
    tasks = list(operations.manual_tasks())
    assert [t.contract_id for t in tasks] == [first.pk, second.pk]
    with pytest.raises(ValueError):
        operations.retry_manual_tasks([t.pk for t in tasks], actor="ops", reason=" ")
    audits = operations.retry_manual_tasks([t.pk for t in tasks], actor="ops", reason="fixed")
    assert len(audits) == 2 and not operations.manual_tasks().exists()
    assert [a.reason for a in operations.audit_of_calls([t.pk for t in tasks])] == ["fixed", "fixed"]
    with pytest.raises(ManualTask.DoesNotExist):
        operations.retry_manual_task(tasks[0].pk, actor="ops", reason="again")  # no longer dead-lettered
