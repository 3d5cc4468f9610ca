"""The overdue ladder over simulated days (the billing clock moves): levels, the end, and clearing."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import clock, dunning, tasks
from commerce_coordinator.apps.invoicing.models import Account, Invoice

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def sent(monkeypatch):
    """The invoicing signals sent, as (name, arguments), in order."""
    return factories.record_notices(monkeypatch)


def _overdue_invoice(card="none") -> Invoice:
    factories.start_clock_in_period()
    account = factories.account(card)
    factories.draft(account)
    call_command("dispatch_invoices", "--json")
    return Invoice.objects.get(account=account)


def _days(sent, name):
    return [(args["level"], args["days_overdue"]) for n, args in sent if n == name]


def test_the_ladder_is_climbed_one_level_at_a_time_as_the_days_pass_and_ends_uncollectible(sent):
    invoice = _overdue_invoice()
    seen = []
    for day in range(1, 23):
        clock.move(days=1)
        result = tasks.evaluate_dunning()
        seen += [(day, level) for level, _ in _days(sent, "account_overdue")[len(seen) :]]
        assert result["evaluated"] == 1
    assert seen == [(10, "warning"), (14, "blocked"), (21, "cancellation")]
    invoice.refresh_from_db()
    assert invoice.state == "uncollectible" and invoice.payment_overdue
    assert [e.action for e in invoice.events.all()][-2:] == ["overdue", "uncollectible"]
    assert Account.objects.get(pk=invoice.account_id).dunning_level == "cancellation"
    assert _days(sent, "account_overdue")[0] == ("warning", 10)
    tasks.evaluate_dunning()  # evaluated again: nothing is sent twice
    assert len(_days(sent, "account_overdue")) == 3


def test_paying_everything_clears_the_account_once(sent, gateway):
    invoice = _overdue_invoice()
    clock.move(days=15)
    dunning.evaluate(invoice.account_id)
    assert Account.objects.get(pk=invoice.account_id).dunning_level == "blocked"
    Account.objects.filter(pk=invoice.account_id).update(payment_provider="stripe", payment_token="pm_card_visa")
    call_command("dispatch_invoices", "--json")  # the retry that is due now succeeds
    invoice.refresh_from_db()
    assert invoice.state == "paid" and not invoice.payment_overdue
    assert [n for n, _ in sent if n == "account_cleared"] == ["account_cleared"]
    account = Account.objects.get(pk=invoice.account_id)
    assert (account.dunning_level, account.dunning_since) == ("", None)
    dunning.evaluate(account.pk)
    assert [n for n, _ in sent].count("account_cleared") == 1


@override_settings(INVOICING_DUNNING_LADDER=[{"level": "suspend", "days": 2}])
def test_the_ladder_comes_from_settings(sent):
    invoice = _overdue_invoice()
    clock.move(days=3)
    assert dunning.evaluate(invoice.account_id)["entered"] == ["suspend"]
    assert Invoice.objects.get(pk=invoice.pk).state == "open"  # no level ends this ladder


def test_a_bad_ladder_is_a_system_check_error(settings):
    from commerce_coordinator.apps.invoicing.checks import check_invoicing_settings

    settings.INVOICING_DUNNING_LADDER = [{"level": "x"}]
    assert [e.id for e in check_invoicing_settings()] == ["invoicing.E001"]
    settings.INVOICING_DUNNING_LADDER = [{"level": "x", "days": 1}, {"level": "x", "days": 2}]
    assert [e.id for e in check_invoicing_settings()] == ["invoicing.E002"]
    settings.INVOICING_RETRY_DAYS = "1,3"
    assert "invoicing.E003" in [e.id for e in check_invoicing_settings()]


def test_dispatch_json_is_one_object_with_the_documented_keys():
    factories.start_clock_in_period()
    summary = json.loads(call_command("dispatch_invoices", "--json"))
    assert {"dispatched", "paid", "payment_failed", "errors", "charges"} <= summary.keys()
