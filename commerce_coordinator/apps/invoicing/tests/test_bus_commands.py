"""The admin panel's billing commands (apps/bus sends them as invoicing's signals): issue and cancel."""

import pytest

from commerce_coordinator.apps.core.retries import PermanentError
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import receivers
from commerce_coordinator.apps.invoicing.models import Invoice

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def test_issue_creates_and_dispatches_the_periods_invoice_once_and_cancel_voids_it():
    factories.start_clock_in_period()
    account = factories.account("none")
    first = receivers.issue_invoice_from_bus(None, account_id=account.pk, period="2026-12", message_id="m1")
    again = receivers.issue_invoice_from_bus(None, account_id=account.pk, period="2026-12", message_id="m2")
    assert (first["created"], first["dispatched"], again["created"], again["dispatched"]) == (1, 1, 0, 0)
    invoice = Invoice.objects.get(account=account)
    assert invoice.state == "open" and invoice.events.get(action="finalize").actor == "bus:m1"
    done = receivers.cancel_invoice_from_bus(None, invoice_number=invoice.number, reason="duplicate", message_id="m3")
    assert done["state"] == "void" and invoice.events.last().reason == "duplicate"
    with pytest.raises(PermanentError, match="cannot void in state 'void'"):
        receivers.cancel_invoice_from_bus(None, invoice_number=invoice.number, reason="again", message_id="m4")


@pytest.mark.parametrize(
    "arguments, error",
    [({"account_id": 0, "period": "2026-12"}, "no active billing account 0"), ({"period": "12/2026"}, "YYYY-MM")],
)
def test_an_impossible_command_is_a_permanent_error(arguments, error):
    account = factories.account("none")
    with pytest.raises(PermanentError, match=error):
        receivers.issue_invoice_from_bus(None, **{"account_id": account.pk, **arguments}, message_id="m")
    with pytest.raises(PermanentError, match="no invoice"):
        receivers.cancel_invoice_from_bus(None, invoice_number="INV-NOPE", reason="x", message_id="m")
