"""The contract state machine: listed transitions only, event rows, suspension reasons, the signals sent."""

import pytest

from commerce_coordinator.apps.contracts import lifecycle, registry
from commerce_coordinator.apps.contracts.models import Contract, ContractEvent, Reason, State
from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .recorders import names

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def new(backend="alpha", activate=True, user=7, name="C"):
    return lifecycle.create_contract(
        name=name,
        lms_user_id=user,
        product="hosting",
        package="basic",
        backend=backend,
        actor="test",
        activate=activate,
    )


def test_a_contract_is_created_then_activated_at_its_backend_with_an_event_per_change(backends, signals_sent):
    contract = new()
    assert contract.state == State.ACTIVE and contract.activated and contract.activated_at is not None
    steps = list(contract.events.values_list("from_state", "to_state", "actor"))
    assert steps == [
        ("", State.CREATED, "test"),
        (State.CREATED, State.ACTIVATING, "test"),
        (State.ACTIVATING, State.ACTIVE, "backend:alpha"),
    ]
    assert names() == ["contract_created", "contract_activating", "contract_activated"]
    assert signals_sent[0][1] == {
        "contract_id": contract.pk,
        "lms_user_id": 7,
        "backend": "alpha",
        "product": "hosting",
        "package": "basic",
    }


def test_every_event_row_carries_the_trace_id_of_the_change(backends):
    with tracing.trace() as ctx:
        contract = new()
    assert set(contract.events.values_list("trace_id", flat=True)) == {ctx.trace_id}


@pytest.mark.parametrize(
    "start, to",
    [
        (State.CREATED, State.ACTIVE),
        (State.CREATED, State.SUSPENDED),
        (State.CREATED, State.CANCELLED),
        (State.ACTIVE, State.ACTIVATING),
        (State.ACTIVE, State.CANCELLED),
        (State.CANCELLED, State.ACTIVE),
        (State.CANCELLED, State.CANCELLING),
        (State.ACTIVATION_FAILED, State.ACTIVE),
        (State.CANCELLING, State.ACTIVE),
    ],
)
def test_a_transition_the_table_does_not_list_is_refused_and_changes_nothing(backends, start, to):
    contract = new(activate=False)
    Contract.objects.filter(pk=contract.pk).update(state=start)
    contract.refresh_from_db()
    events = ContractEvent.objects.count()
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.transition(contract, to, actor="test")
    contract.refresh_from_db()
    assert contract.state == start and ContractEvent.objects.count() == events


def test_the_table_is_the_one_the_design_lists():
    assert (State.CREATED, State.ACTIVATING) in lifecycle.TRANSITIONS
    assert {(a, b) for a, b in lifecycle.TRANSITIONS if b == State.CANCELLING} == {
        (State.ACTIVE, State.CANCELLING),
        (State.SUSPENDED, State.CANCELLING),
    }
    assert all(a != State.CANCELLED for a, _ in lifecycle.TRANSITIONS)  # cancelled is final


def test_suspended_for_two_reasons_it_resumes_only_when_both_are_cleared(backends, signals_sent):
    contract = new()
    lifecycle.suspend(contract, Reason.OVERDUE, actor="dunning")
    lifecycle.suspend(contract, Reason.ADMIN, actor="ops", why="ticket 12")
    assert contract.state == State.SUSPENDED and contract.suspension_reasons == ["admin", "overdue"]
    lifecycle.resume(contract, Reason.OVERDUE, actor="dunning")
    assert contract.state == State.SUSPENDED and contract.suspension_reasons == ["admin"]
    lifecycle.resume(contract, Reason.ADMIN, actor="ops")
    assert contract.state == State.ACTIVE and contract.suspension_reasons == []
    reasons = list(contract.events.filter(reason__gt="").values_list("to_state", "reason", "actor"))
    assert reasons == [
        (State.SUSPENDED, "overdue", "dunning"),
        (State.SUSPENDED, "admin", "ops"),
        (State.SUSPENDED, "overdue", "dunning"),
        (State.ACTIVE, "admin", "ops"),
    ]
    assert names().count("contract_suspended") == 1 and names().count("contract_resumed") == 1
    assert (
        "contract_resumed",
        {"contract_id": contract.pk, "lms_user_id": 7, "backend": "alpha", "reason": "admin"},
    ) in (signals_sent)


def test_suspending_again_for_the_same_reason_or_clearing_an_absent_one_changes_nothing(backends):
    contract = new()
    assert lifecycle.suspend(contract, Reason.ABUSE, actor="t") is not None
    events = contract.events.count()
    assert lifecycle.suspend(contract, Reason.ABUSE, actor="t") is None
    assert lifecycle.resume(contract, Reason.OVERDUE, actor="t") is None
    assert contract.events.count() == events and contract.state == State.SUSPENDED


def test_an_unknown_reason_is_refused(backends):
    contract = new()
    with pytest.raises(lifecycle.TransitionRefused, match="unknown suspension reason"):
        lifecycle.suspend(contract, "because", actor="t")


def test_cancel_goes_through_cancelling_to_cancelled_and_stamps_the_date(backends, signals_sent):
    contract = new()
    lifecycle.suspend(contract, Reason.ADMIN, actor="t")
    lifecycle.cancel(contract, actor="t", why="customer left")
    assert contract.state == State.CANCELLED and contract.cancelled_at is not None and not contract.activated
    assert names()[-2:] == ["contract_cancelling", "contract_cancelled"]
    assert lifecycle.cancel(contract, actor="t") is None  # already cancelled: nothing to do


def test_a_contract_created_without_activation_is_opened_later(backends):
    contract = new(activate=False)
    assert contract.state == State.CREATED
    lifecycle.activate(contract, actor="billmanager")
    assert contract.state == State.ACTIVE
    assert lifecycle.activate(contract, actor="billmanager") is None  # already active


def test_suspended_means_some_reason_remains(backends):
    contract = new()
    with pytest.raises(lifecycle.TransitionRefused, match="not consistent"):
        lifecycle.transition(contract, State.SUSPENDED, actor="t")  # no reason given
    lifecycle.suspend(contract, Reason.ADMIN, actor="t")
    with pytest.raises(lifecycle.TransitionRefused, match="not consistent"):
        lifecycle.transition(contract, State.ACTIVE, actor="t", reasons={"admin"})


def test_a_contract_of_an_unknown_backend_is_not_created(backends):
    with pytest.raises(registry.UnknownBackend):
        new("nowhere")
    assert not Contract.objects.exists()
