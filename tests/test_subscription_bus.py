"""The admin panel's `subscribe` command through the bus consumer on the real RabbitMQ: the API's subscribe,
once per message id; an impossible subscribe goes to the dead-letter queue with its reason."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.tests.support import bus_queue, consume, depth, drain, publish  # noqa: F401
from commerce_coordinator.apps.bus.topology import topology
from commerce_coordinator.apps.core.models import Trace
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceCharge
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions.models import Plan, Subscription

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture
def real_commands(settings):
    """The commands as base.py wires them (test settings route them to the bus's own fixtures)."""
    settings.CC_BUS_COMMANDS = {"subscribe": "commerce_coordinator.apps.subscriptions.signals.subscribe_requested"}
    Plan.objects.create(code="demo-monthly", name="Demo monthly", price=Decimal("9.90"), currency="USD")


def test_subscribe_over_the_bus_subscribes_once_and_dead_letters_the_impossible(bus_queue, real_commands,  # noqa: F811
                                                                                billing_clock):  # fmt: skip
    account = factories.account("ok", products=0)
    publish(bus_queue, "subscribe", message_id="sub-a", account_id=account.pk, plan="demo-monthly")
    publish(bus_queue, "subscribe", message_id="sub-a", account_id=account.pk, plan="demo-monthly")
    publish(bus_queue, "subscribe", message_id="sub-b", account_id=account.pk, plan="gold")
    publish(bus_queue, "subscribe", message_id="sub-c", account_id=999999, plan="demo-monthly")

    consumer = consume(bus_queue, max_messages=4)

    assert consumer.counts == {"processed": 1, "duplicate": 1, "dead_lettered": 2}
    sub = Subscription.objects.get()
    assert (sub.account_id, sub.plan.code, sub.status) == (account.pk, "demo-monthly", "pending")
    assert sub.events.first().actor == "bus:sub-a"
    invoice = Invoice.objects.get(account=account)  # billed through invoicing, charge requested
    assert invoice.state == "open" and InvoiceCharge.objects.filter(invoice=invoice).count() == 1
    assert ProcessedMessage.objects.filter(message_id="sub-a").count() == 1
    reasons = sorted(headers["x-cc-reason"] for _, headers in drain(topology(bus_queue).dead_letter_queue.name))
    assert "no active plan 'gold'" in reasons[0] and "no billing account 999999" in reasons[1]
    assert depth(bus_queue) == 0
    assert Trace.objects.with_key("message_id", "sub-a").exists()
    assert Trace.objects.with_key("subscription_id", str(sub.pk)).exists()
