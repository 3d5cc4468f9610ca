"""The dunning link: account_overdue at the blocked level suspends the account's contracts (reason overdue),
account_cleared resumes them; a contract also suspended by an admin stays suspended."""

import pytest
from django.conf import settings as live
from django.test import override_settings

from commerce_coordinator.apps.contracts import lifecycle, receivers
from commerce_coordinator.apps.contracts.models import Reason, State
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from . import fake_invoicing
from .test_lifecycle import new

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def dunning(backends):
    with override_settings(CC_SIGNALS={**live.CC_SIGNALS, **fake_invoicing.ROUTES}):
        yield backends


def test_blocked_suspends_every_contract_of_the_account_and_cleared_resumes_them(dunning):
    a, b = new("alpha", user=5, name="A"), new("net", user=5, name="B")
    other = new("beta", user=6, name="other user")
    result = fake_invoicing.overdue(5)
    assert result.ok and result.results[0].value["changed"] == [a.pk, b.pk]
    for contract in (a, b, other):
        contract.refresh_from_db()
    assert (a.state, b.state, other.state) == (State.SUSPENDED, State.SUSPENDED, State.ACTIVE)
    assert a.suspension_reasons == ["overdue"] and ("alpha", "suspend", a.pk) in dunning.CALLS
    assert a.events.last().actor == "dunning" and "INV-1" in a.events.last().why
    fake_invoicing.cleared(5)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.state, b.state) == (State.ACTIVE, State.ACTIVE) and ("alpha", "resume", a.pk) in dunning.CALLS


def test_an_earlier_dunning_level_suspends_nothing(dunning):
    contract = new("alpha", user=5)
    assert "does not suspend" in fake_invoicing.overdue(5, level="reminder").results[0].value["skipped"]
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE


def test_a_contract_also_suspended_by_an_admin_stays_suspended_when_the_account_clears(dunning):
    contract = new("alpha", user=5)
    lifecycle.suspend(contract, Reason.ADMIN, actor="ops")
    fake_invoicing.overdue(5)
    fake_invoicing.cleared(5)
    contract.refresh_from_db()
    assert contract.state == State.SUSPENDED and contract.suspension_reasons == ["admin"]


def test_overdue_twice_changes_nothing_the_second_time_and_a_cancelled_contract_is_left_alone(dunning):
    contract = new("alpha", user=5)
    gone = new("beta", user=5, name="gone")
    lifecycle.cancel(gone, actor="t")
    fake_invoicing.overdue(5)
    second = fake_invoicing.overdue(5, days=31).results[0].value
    assert second["changed"] == [] and second["unchanged"] == [contract.pk]
    gone.refresh_from_db()
    assert gone.state == State.CANCELLED


def test_one_contract_refused_does_not_stop_the_others(dunning):
    first, second = new("alpha", user=5, name="1"), new("beta", user=5, name="2")

    def change(contract):
        if contract.pk == first.pk:
            raise lifecycle.TransitionRefused(contract, State.SUSPENDED)
        return lifecycle.suspend(contract, Reason.OVERDUE, actor="dunning")

    result = receivers._each([first, second], change)
    assert result["changed"] == [second.pk] and list(result["refused"]) == [first.pk]
