"""The admin panel's `refund` command through the bus consumer on the real RabbitMQ, across invoicing and
payments, through the demo gateway on a real HTTP port: pay -> refund -> the invoice shows it, one trace under
the message id; a repeated message id changes nothing; an impossible refund is dead-lettered with its reason."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.tests.support import bus_queue, consume, depth, drain, publish  # noqa: F401
from commerce_coordinator.apps.bus.topology import topology
from commerce_coordinator.apps.core.models import Trace, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_gateway.models import DemoRefund
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceRefund
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.payments.refunds import RefundAttempt

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def real_refund(settings):
    """The refund command as base.py wires it (test settings route the bus's commands to its own fixtures)."""
    settings.CC_BUS_COMMANDS = {"refund": "commerce_coordinator.apps.invoicing.signals.invoice_refund_requested"}
    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 15  # not about timeouts: a loaded machine's slow live server is fine
    factories.start_clock_in_period()


def names(trace_id: str) -> set[tuple[str, str]]:
    """The (kind, name) of every node of one trace, checking that it is one tree."""
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=trace_id)}
    roots = [n for n in nodes.values() if n.parent_id not in nodes]
    assert len(roots) == 1, [(n.kind, n.name) for n in roots]
    return {(n.kind, n.name) for n in nodes.values()}


def test_pay_then_refund_over_the_bus_once_shows_on_the_invoice_in_one_trace(bus_queue, real_refund, gateway,  # noqa: F811
                                                                             staff_client):  # fmt: skip
    invoice = factories.paid("ok")
    publish(bus_queue, "refund", message_id="refund-a", invoice_number=invoice.number, reason="course cancelled")
    publish(bus_queue, "refund", message_id="refund-a", invoice_number=invoice.number, reason="course cancelled")

    consumer = consume(bus_queue, max_messages=2)

    assert consumer.counts == {"processed": 1, "duplicate": 1}
    shown = staff_client.get(f"/api/v1/billing/invoices/{invoice.number}/").json()
    assert (shown["state"], shown["amount_paid"], shown["amount_refunded"]) == ("paid", "10.00", "10.00")
    [refund] = shown["refunds"]
    assert (refund["status"], refund["amount"], refund["actor"], refund["reason"]) == (
        "succeeded", "10.00", "bus:refund-a", "course cancelled")  # fmt: skip
    assert [e["action"] for e in shown["events"]][-2:] == ["refund", "refunded"]
    assert RefundAttempt.objects.get().status == "done" and DemoRefund.objects.get().succeeded
    assert ProcessedMessage.objects.filter(message_id="refund-a").count() == 1

    traces = Trace.objects.with_key("message_id", "refund-a")
    processed = [t for t in traces if "refund_requested" in str(names(t.trace_id))]
    assert len(processed) == 1  # the duplicate's own trace says "duplicate" and holds no refund
    tree = names(processed[0].trace_id)
    assert ("command", "bus.refund") in tree
    assert ("send", "commerce_coordinator.apps.invoicing.signals.refund_requested") in tree
    assert ("work", f"refund {refund['idempotency_key']}") in tree  # payments' durable item, its task joined
    assert ("send", "commerce_coordinator.apps.payments.signals.refund_succeeded") in tree
    assert refund["trace_id"] == processed[0].trace_id and refund["trace_id"] in shown["trace_ids"]


def test_impossible_refunds_are_dead_lettered_with_their_reason_and_change_nothing(bus_queue, real_refund,  # noqa: F811
                                                                                   gateway):  # fmt: skip
    invoice = factories.paid("ok")
    unpaid = factories.draft(factories.account("none", lms_user_id=9100))
    Invoice.objects.filter(pk=unpaid.pk).update(number="INV-UNPAID", state="open")
    publish(bus_queue, "refund", message_id="r-much", invoice_number=invoice.number, amount="10.01", reason="x")
    publish(bus_queue, "refund", message_id="r-open", invoice_number="INV-UNPAID", amount=None, reason="x")
    publish(bus_queue, "refund", message_id="r-none", invoice_number="INV-NOPE", reason="x")  # amount left out
    publish(bus_queue, "refund", message_id="r-part", invoice_number=invoice.number, amount="2.50", reason="partly")

    consumer = consume(bus_queue, max_messages=4)

    assert consumer.counts == {"processed": 1, "dead_lettered": 3}
    dead = drain(topology(bus_queue).dead_letter_queue.name)
    letters = {body["message_id"]: headers["x-cc-reason"] for body, headers in dead}
    assert "more than the 10.00 still refundable of the 10.00 paid" in letters["r-much"]
    assert "invoice INV-UNPAID is open, not paid" in letters["r-open"]
    assert "no invoice 'INV-NOPE'" in letters["r-none"]
    assert depth(bus_queue) == 0
    [refund] = InvoiceRefund.objects.all()
    assert (refund.amount, refund.status, refund.actor) == (Decimal("2.50"), "succeeded", "bus:r-part")
    assert not ProcessedMessage.objects.filter(message_id__in=["r-much", "r-open", "r-none"]).exists()
    failed = Trace.objects.with_key("message_id", "r-much").get()
    assert failed.status == "error"
