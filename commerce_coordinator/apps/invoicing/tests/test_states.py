"""The invoice state machine: every transition of the table, every refusal, and the chain it writes."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import states
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceEvent, InvoiceState

from . import factories

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
S = InvoiceState
ACTIONS = sorted({rule.action for rule in states.RULES})


def _invoice_in(state: str, **fields) -> Invoice:
    invoice = factories.draft(factories.account())
    Invoice.objects.filter(pk=invoice.pk).update(state=state, **fields)
    invoice.refresh_from_db()
    return invoice


@pytest.mark.parametrize("rule", states.RULES, ids=lambda r: f"{r.source}-{r.action}-{r.target}")
def test_every_transition_of_the_table_moves_the_state_and_appends_one_event(rule):
    invoice = _invoice_in(rule.source)
    before = invoice.version
    event = states.transition(invoice, rule.action, reason="because", actor="tester")
    fresh = Invoice.objects.get(pk=invoice.pk)
    assert (fresh.state, fresh.version) == (rule.target, before + 1)
    assert (event.seq, event.from_state, event.to_state, event.action) == (before + 1, rule.source, rule.target,
                                                                           rule.action)  # fmt: skip
    assert (event.reason, event.actor) == ("because", "tester")


@pytest.mark.parametrize("state", [s.value for s in S])
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_not_in_the_table_is_refused_and_writes_nothing(state, action):
    if (state, action) in states.TABLE:
        pytest.skip("allowed: covered above")
    invoice = _invoice_in(state)
    with pytest.raises(states.InvalidTransition, match=f"cannot {action} in state '{state}'"):
        states.transition(invoice, action)
    assert Invoice.objects.get(pk=invoice.pk).state == state
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == 1  # only the creation event


def test_an_unknown_action_is_refused_with_a_clear_error():
    with pytest.raises(states.InvalidTransition, match="'rewind' is not an invoice action"):
        states.transition(_invoice_in(S.OPEN), "rewind")


def test_an_open_invoice_is_voided_only_when_nothing_was_paid():
    invoice = _invoice_in(S.OPEN, amount_paid=Decimal("5.00"))
    with pytest.raises(states.InvalidTransition, match="5.00 was already paid"):
        states.transition(invoice, "void")
    invoice = _invoice_in(S.UNCOLLECTIBLE, amount_paid=Decimal("5.00"))  # uncollectible -> void has no guard
    states.transition(invoice, "void")


def test_a_concurrent_change_makes_the_second_transition_fail_as_stale():
    invoice = factories.draft(factories.account())
    other_copy = Invoice.objects.get(pk=invoice.pk)
    states.transition(invoice, "finalize")
    with pytest.raises(states.StaleInvoice):
        states.transition(other_copy, "delete")
    assert Invoice.objects.get(pk=invoice.pk).state == S.OPEN
    assert [e.action for e in InvoiceEvent.objects.filter(invoice=invoice)] == ["create", "finalize"]


def test_events_are_append_only():
    invoice = factories.draft(factories.account())
    event = InvoiceEvent.objects.get(invoice=invoice)
    event.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_the_diagram_is_drawn_from_the_table():
    diagram = states.mermaid()
    for rule in states.RULES:
        assert f"{rule.source} --> {rule.target}: {rule.action}" in diagram


def test_the_documented_diagram_is_the_tables():
    from pathlib import Path

    from django.conf import settings

    doc = (Path(settings.BASE_DIR) / "docs" / "invoicing.md").read_text()
    assert f"```mermaid\n{states.mermaid()}\n```" in doc
