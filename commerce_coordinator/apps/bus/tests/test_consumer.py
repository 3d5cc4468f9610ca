"""The consumer on the real RabbitMQ, in this process: exactly once, dead letters with reasons, bounded retries."""

import pytest

from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.publisher import send_raw
from commerce_coordinator.apps.bus.tests import fixtures
from commerce_coordinator.apps.bus.tests.support import consume, depth, drain, publish
from commerce_coordinator.apps.bus.topology import topology
from commerce_coordinator.apps.core.models import Trace, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_a_command_becomes_its_signal_once_and_a_duplicate_changes_nothing(bus_queue):
    publish(bus_queue, "subscribe", message_id="sub-1", account_id=7, plan="demo-monthly")
    publish(bus_queue, "subscribe", message_id="sub-1", account_id=7, plan="demo-monthly")
    publish(bus_queue, "issue_invoice", message_id="inv-1", account_id=7, period="2026-12", amount="49.90")

    consumer = consume(bus_queue, max_messages=3)

    assert consumer.counts == {"processed": 2, "duplicate": 1}
    assert fixtures.effects() == ["bus-effect:bus message inv-1:inv-1", "bus-effect:bus message sub-1:demo-monthly"]
    ledger = ProcessedMessage.objects.get(message_id="sub-1")
    assert (ledger.command, ledger.arguments) == ("subscribe", {"account_id": 7, "plan": "demo-monthly"})
    assert depth(bus_queue) == 0 and drain(topology(bus_queue).dead_letter_queue.name) == []


def test_the_outcome_is_traced_under_the_message_id(bus_queue):
    publish(bus_queue, "cancel_invoice", message_id="cancel-1", invoice_number="I-1", reason="customer asked")
    publish(bus_queue, "cancel_invoice", message_id="cancel-1", invoice_number="I-1", reason="customer asked")
    consume(bus_queue, max_messages=2)

    first, second = Trace.objects.with_key("message_id", "cancel-1").order_by("started_at")
    assert (first.kind, first.name, first.sender, first.status, first.result, first.subject) == (
        "command",
        "bus.cancel_invoice",
        "message cancel-1",
        "ok",
        "processed: cancel_invoice cancel-1 processed",
        "bus.cancel_invoice",
    )
    assert second.result.startswith("duplicate: message cancel-1 was processed before")
    assert list(Trace.objects.with_key("invoice_number", "I-1").order_by("started_at")) == [first, second]
    send = TraceNode.objects.get(trace_id=first.trace_id, kind="send")
    assert (send.name, send.parent_id, send.sender) == (
        fixtures.PREFIX + "cancel_invoice",
        first.id,
        "bus message cancel-1",
    )
    assert TraceNode.objects.filter(trace_id=first.trace_id, kind="receiver", status="ok").count() == 1
    assert ProcessedMessage.objects.get(message_id="cancel-1").trace_id == first.trace_id


def test_poison_messages_go_to_the_dead_letter_queue_with_their_reason_and_are_not_redelivered(bus_queue):
    send_raw(b"this is not json", queue=bus_queue)
    publish_unknown = b'{"command": "launch_rockets", "message_id": "p-2"}'
    send_raw(publish_unknown, queue=bus_queue)
    send_raw(b'{"command": "subscribe", "message_id": "p-3", "account_id": "seven", "plan": "x"}', queue=bus_queue)

    consumer = consume(bus_queue, max_messages=3)

    assert consumer.counts == {"dead_lettered": 3}
    dead = drain(topology(bus_queue).dead_letter_queue.name)
    assert [body for body, _ in dead] == [
        "this is not json",
        {"command": "launch_rockets", "message_id": "p-2"},
        {"command": "subscribe", "message_id": "p-3", "account_id": "seven", "plan": "x"},
    ]
    reasons = [headers["x-cc-reason"] for _, headers in dead]
    assert reasons[0].startswith("body is not JSON")
    assert reasons[1].startswith("unknown command 'launch_rockets'")
    assert "argument 'account_id' must be int, got str" in reasons[2]
    assert all(headers["x-cc-trace-id"] for _, headers in dead)
    assert depth(bus_queue) == 0 and fixtures.effects() == [] and not ProcessedMessage.objects.exists()
    roots = TraceNode.objects.filter(parent_id__isnull=True, kind="command")
    outcomes = [(n.status, n.error_message) for n in roots.order_by("started_at")]
    assert [status for status, _ in outcomes] == ["error"] * 3
    assert all(m.startswith("dead-lettered: " + r) for (_, m), r in zip(outcomes, reasons, strict=True))


def test_a_permanent_receiver_failure_rolls_the_command_back_and_dead_letters_it(bus_queue):
    publish(bus_queue, "refund", message_id="r-neg", invoice_number="I-9", amount="-5")
    consumer = consume(bus_queue, max_messages=1)

    assert consumer.counts == {"dead_lettered": 1}
    ((body, headers),) = drain(topology(bus_queue).dead_letter_queue.name)
    assert body["message_id"] == "r-neg"
    assert "refund_or_fail: ValueError: cannot refund a negative amount -5" in headers["x-cc-reason"]
    assert not ProcessedMessage.objects.filter(message_id="r-neg").exists()  # the ledger row went with it


def test_a_retryable_failure_is_redelivered_a_bounded_number_of_times_then_dead_lettered(bus_queue):
    publish(bus_queue, "refund", message_id="r-busy", invoice_number="RETRY-1", amount="5")
    consumer = consume(bus_queue, max_messages=3, idle_timeout=5)  # CC_BUS_RETRY_SCHEDULE: 2 retries of 0.2 s

    assert consumer.counts == {"retried": 2, "dead_lettered": 1}
    ((body, headers),) = drain(topology(bus_queue).dead_letter_queue.name)
    assert body["message_id"] == "r-busy" and headers["x-cc-attempts"] == 2
    assert headers["x-cc-reason"].startswith("gave up after 3 attempts: ReceiversFailed:")
    assert "FlakyGateway: gateway busy for RETRY-1" in headers["x-cc-reason"]
    assert depth(topology(bus_queue).retry_queue.name) == 0 and depth(bus_queue) == 0
    statuses = list(
        TraceNode.objects.filter(sender="message r-busy", parent_id__isnull=True)
        .order_by("started_at")
        .values_list("status", flat=True)
    )
    assert statuses == ["retry", "retry", "error"]


def test_a_one_shot_stops_when_idle(bus_queue):
    consumer = consume(bus_queue, idle_timeout=1)
    assert consumer.handled == 0 and consumer.should_stop
