"""A dispatch page's charges requested together (ADR 34): one charges_requested, one trace that names every
invoice, statements that do not grow with the page, and a refused page requested again one invoice at a time."""

import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import TraceKey, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import Account, Invoice, InvoiceCharge

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
SEND = "commerce_coordinator.apps.invoicing.signals.charges_requested"


@pytest.fixture(autouse=True)
def published(monkeypatch):
    """The attempts' tasks are recorded, not run (no gateway here)."""
    sent = []
    monkeypatch.setattr(durable, "publish_many", lambda model, items, headers: sent.extend(items))
    factories.start_clock_in_period()
    return sent


def dispatch(*args) -> dict:
    return json.loads(call_command("dispatch_invoices", "--json", "--period", "2026-12", *args))


def accounts(n: int, card="ok", first=1) -> list[Account]:
    made = [factories.account(card, lms_user_id=first + i) for i in range(n)]
    call_command("create_invoices", "--period", "2026-12")
    return made


def test_a_page_is_one_send_and_one_trace_in_which_every_invoice_is_found(published):
    accounts(5)
    accounts(1, "none", first=100)
    summary = dispatch()
    assert (summary["charges"], summary["payment_failed"], summary["errors"]) == (5, 1, 0)
    attempts = apps.get_model("payments", "ChargeAttempt").objects.all()
    # One chunk (PAYMENTS_CHARGE_CHUNK_SIZE, ADR 0035): one message naming the five, under their shared token.
    [(pks, token)] = published
    assert sorted(attempts.values_list("pk", "claim_token")) == [(pk, token) for pk in pks]
    [send] = TraceNode.objects.filter(kind="send", name=SEND)
    numbers = list(Invoice.objects.values_list("number", flat=True))
    keys = TraceKey.objects.filter(key="invoice_number", value__in=numbers, trace_id=send.trace_id)
    assert keys.count() == 6  # the charged five and the one without a saved method
    assert set(attempts.values_list("trace_id", flat=True)) == {send.trace_id}
    assert set(InvoiceCharge.objects.values_list("trace_id", flat=True)) == {send.trace_id}


def test_the_charge_step_costs_the_same_statements_for_a_page_of_4_and_of_40():
    counts = []
    for n, first in ((4, 1), (40, 1000)):
        made = accounts(n, first=first)
        dispatch("--no-charge")
        with CaptureQueriesContext(connection) as queries:
            assert dispatch(*[f"--account={a.pk}" for a in made])["charges"] == n
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_a_page_payments_refuses_is_requested_again_one_invoice_at_a_time(published):
    good = accounts(3)
    bad = factories.account("ok", lms_user_id=77)
    Account.objects.filter(pk=bad.pk).update(payment_provider="paypal")
    call_command("create_invoices", "--period", "2026-12")
    summary = dispatch()
    assert summary["charges"] == 3 and summary["errors"] >= 1  # (the run's pass over due charges tries it again)
    assert "cannot charge through provider 'paypal'" in summary["error_accounts"][str(bad.pk)]
    refused = Invoice.objects.get(account=bad)
    assert (refused.state, refused.attempts, refused.charge_in_flight) == ("open", 0, False)
    assert not InvoiceCharge.objects.filter(invoice=refused).exists()
    assert InvoiceCharge.objects.filter(invoice__account__in=good).count() == 3 == len(published)
