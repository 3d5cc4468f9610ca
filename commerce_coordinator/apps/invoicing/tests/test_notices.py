"""The outbox (notify.Notice): invoicing's signals and dunning steps as durable work items, stored with the
transition that causes them, sent once per cause, found again by core's sweep when the process died after
the commit, retried on core's policy, dead-lettered for an operator who can send them again."""

import json

import pytest
from django.core import mail
from django.core.management import call_command
from waffle.testutils import override_switch

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import charging, notify, operations, receivers
from commerce_coordinator.apps.invoicing.models import Invoice, Notice

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture(autouse=True)
def _billing_day():
    factories.start_clock_in_period()


def dispatch() -> dict:
    return json.loads(call_command("dispatch_invoices", "--json", "--period", "2026-12"))


def notices(invoice: Invoice) -> list[tuple[str, str]]:
    return sorted(Notice.objects.filter(account_id=invoice.account_id).values_list("kind", "status"))


@pytest.fixture
def died_after_commit(monkeypatch):
    """The process dies right after each commit: what it stored is never sent by it."""
    monkeypatch.setattr(notify, "flush", lambda: notify._stored.__dict__.update(queue=[]))


def test_a_paid_invoice_stores_its_receipt_and_dunning_step_with_the_transition_and_sends_each_once(gateway):
    account = factories.account("ok")
    factories.draft(account)
    with override_switch("invoicing.email_invoice_sent", active=True):
        dispatch()
    invoice = Invoice.objects.get(account=account)
    assert notices(invoice) == [("evaluate_dunning", "done"), ("invoice_sent", "done")]
    receipt = Notice.objects.get(kind="invoice_sent")
    assert receipt.cause == f"invoice_sent:{invoice.pk}:e{invoice.version}" and receipt.attempts == 1
    assert receipt.arguments["invoice"] == {**invoice.as_data(), "status": "paid"}
    assert receipt.trace_id == invoice.charges.get().trace_id  # sent in the attempt's trace
    assert [m.subject for m in mail.outbox] == [f"Invoice {invoice.number} paid"]
    # The same answer again (a redelivery): no second notice, nothing sent.
    assert charging.record_answer(f"inv-{invoice.pk}-a1", succeeded=True)["duplicate"]
    notify.invoice_notice("invoice_sent", invoice, invoice=invoice.as_data(), owner=account.owner_data())
    assert Notice.objects.filter(kind="invoice_sent").count() == 1 and len(mail.outbox) == 1


def test_a_process_that_dies_after_the_commit_leaves_its_notices_to_the_core_sweep(gateway, died_after_commit,
                                                                                  monkeypatch, settings):  # fmt: skip
    account = factories.account("soft")
    factories.draft(account)
    with override_switch("invoicing.email_credit_card_error", active=True):
        dispatch()
        invoice = Invoice.objects.get(account=account)
        assert invoice.charges.get().decline == "soft" and mail.outbox == []
        assert notices(invoice) == [("credit_card_error", "pending"), ("evaluate_dunning", "pending")]
        monkeypatch.undo()  # a new process: the sweep finds what the dead one stored
        settings.CC_DURABLE_STALLED_AFTER = -1
        assert durable.sweep() == {"invoicing.notice": 2}
        assert notices(invoice) == [("credit_card_error", "done"), ("evaluate_dunning", "done")]
        assert [m.subject for m in mail.outbox] == [f"Payment failed for invoice {invoice.number}"]
        assert durable.sweep() == {} and len(mail.outbox) == 1
    work = TraceNode.objects.get(kind="work", name="invoicing.credit_card_error")
    assert work.status == "ok" and work.trace_id == invoice.charges.get().trace_id


def test_a_receiver_that_keeps_failing_is_retried_then_dead_lettered_and_an_operator_sends_it_again(
    gateway, monkeypatch, settings, admin_client
):
    settings.INVOICING_NOTICE_RETRY_SCHEDULE = [0, 0]

    def smtp_down(*args, **kwargs):
        raise ConnectionError("SMTP server unreachable")

    monkeypatch.setattr(receivers, "send_mail", smtp_down)
    account = factories.account("none")
    factories.draft(account)
    with override_switch("invoicing.email_credit_card_error", active=True):
        dispatch()
        notice = Notice.objects.get(kind="credit_card_error")
        assert (notice.status, notice.attempts) == ("failed", 3)
        assert "ConnectionError: SMTP server unreachable" in notice.last_error and "exhausted" in notice.last_error
        works = TraceNode.objects.filter(kind="work", name="invoicing.credit_card_error").order_by("started_at")
        assert [w.status for w in works] == ["retry", "retry", "error"]
        page = admin_client.get("/admin/invoicing/notice/?status__exact=failed")
        assert page.status_code == 200 and notice.cause in page.content.decode()

        monkeypatch.undo()  # the SMTP server is back
        audit = operations.resend_notice(notice, "admin:ops", "SMTP is back")
        notice.refresh_from_db()
        assert notice.status == "done" and "no saved payment method" in mail.outbox[0].body
        with pytest.raises(operations.InvalidTransition):  # only a dead letter is sent again
            operations.resend_notice(notice, "admin:ops", "again")
    assert len(mail.outbox) == 1
    assert (audit.action, audit.actor, audit.item_type) == ("resend", "admin:ops", "invoicing.notice")
    assert WorkAudit.objects.get().outcome == "re-queued (was failed)"


def test_a_permanent_failure_is_dead_lettered_at_once(gateway, monkeypatch):
    monkeypatch.setattr(receivers, "send_mail", lambda *a, **k: 1 / 0)
    account = factories.account("none")
    factories.draft(account)
    with override_switch("invoicing.email_credit_card_error", active=True):
        dispatch()
    notice = Notice.objects.get(kind="credit_card_error")
    assert (notice.status, notice.attempts) == ("failed", 1) and "ZeroDivisionError" in notice.last_error
    assert Invoice.objects.get(account=account).state == "open"  # the transition stands; only the notice failed
