# After the invoicing branch merges: rename to tests/test_dunning_contracts.py and add the two routes
# (CC_SIGNALS: account_overdue -> contracts.receivers.suspend_overdue_account,
#  account_cleared -> contracts.receivers.resume_cleared_account). Passed in a trial merge of invoicing.
"""The dunning link across invoicing and contracts, through the demo gateway: the ladder's `blocked` level
suspends the account's contracts (reason overdue), paying the invoice resumes them, and a contract that
an administrator suspended too stays suspended."""

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.contracts import lifecycle
from commerce_coordinator.apps.contracts.models import Contract, Reason, State
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import clock, tasks
from commerce_coordinator.apps.invoicing.models import Account, Invoice
from commerce_coordinator.apps.invoicing.tests import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
USER, OTHER_USER = 9003, 9004


def contract(name: str, backend: str, user: int = USER) -> Contract:
    return lifecycle.create_contract(name=name, lms_user_id=user, product="hosting", backend=backend, actor="test")


def states(*contracts) -> list[tuple[str, list[str]]]:
    for c in contracts:
        c.refresh_from_db()
    return [(c.state, c.suspension_reasons) for c in contracts]


def test_blocked_suspends_the_accounts_contracts_and_paying_resumes_only_the_overdue_reason(gateway, staff_client):
    factories.start_clock_in_period()
    account = factories.account("soft", lms_user_id=USER)
    smt, net, admin_too = contract("smt", "smt"), contract("net", "net"), contract("admin too", "telmex")
    lifecycle.suspend(admin_too, Reason.ADMIN, actor="ops")
    someone_else = contract("someone else", "smt", user=OTHER_USER)
    call_command("create_invoices", "--period", "2026-12")
    call_command("dispatch_invoices", "--json")
    invoice = Invoice.objects.get(account=account)

    levels = []
    for _day in range(16):  # what Celery beat does each day
        clock.move(days=1)
        call_command("dispatch_invoices", "--json")
        tasks.evaluate_dunning()
        levels.append(Account.objects.get(pk=account.pk).dunning_level)
        if levels[-1] == "warning":
            assert states(smt)[0][0] == State.ACTIVE  # the warning level suspends nothing
    assert levels[-1] == "blocked", levels
    assert states(smt, net, admin_too, someone_else) == [
        (State.SUSPENDED, ["overdue"]),
        (State.SUSPENDED, ["overdue"]),
        (State.SUSPENDED, ["admin", "overdue"]),
        (State.ACTIVE, []),
    ]
    assert smt.events.last().actor == "dunning" and invoice.number in smt.events.last().why
    assert smt.backend_calls.filter(action="suspend", status="done").exists()  # smt was told

    paid = staff_client.post(
        f"/api/v1/billing/invoices/{invoice.number}/pay/",
        {"provider": "stripe", "payment_token": "pm_card_visa", "reason": "new card"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="owner-pays-contracts",
    )
    assert paid.status_code == 202, paid.content
    assert states(smt, net, admin_too) == [(State.ACTIVE, []), (State.ACTIVE, []), (State.SUSPENDED, ["admin"])]
    assert smt.backend_calls.filter(action="resume", status="done").exists()
