"""Group commit on the real RabbitMQ (ADR 0064): messages already delivered are carried out in one transaction,
a savepoint each; a failed command loses nothing of the others'; a lost transaction requeues the batch whole."""

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings

from commerce_coordinator.apps.bus.consumer import CommandConsumer
from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.publisher import send_raw
from commerce_coordinator.apps.bus.tests import fixtures
from commerce_coordinator.apps.bus.tests.support import consume, depth, drain, publish
from commerce_coordinator.apps.bus.topology import topology
from commerce_coordinator.apps.core.models import Trace, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def subscribe_or_lose_the_transaction(sender, account_id, plan):
    """Subscribes, except for plan `deadlock` (the server rolls the whole transaction back and says so, as
    InnoDB does to a deadlock's victim) and `kill` (MariaDB: the connection dies under the transaction)."""
    if plan == "deadlock":
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK")
        raise OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
    if plan == "kill":
        with connection.cursor() as cursor:
            cursor.execute("KILL CONNECTION_ID()")
    return fixtures.record_effect(sender, plan=plan)


@pytest.fixture
def losing_subscribe():
    routes = {**settings.CC_SIGNALS, fixtures.PREFIX + "subscribe": [f"{__name__}.subscribe_or_lose_the_transaction"]}
    with override_settings(CC_SIGNALS=routes):
        yield


def test_a_batch_commits_once_and_a_failed_command_loses_nothing_of_the_others(bus_queue):
    publish(bus_queue, "subscribe", message_id="b-1", account_id=1, plan="plan-1")
    send_raw(b"this is not json", queue=bus_queue)
    publish(bus_queue, "refund", message_id="b-neg", invoice_number="I-1", amount="-5")  # permanent failure
    publish(bus_queue, "subscribe", message_id="b-1", account_id=1, plan="plan-1")  # a duplicate in the batch
    publish(bus_queue, "refund", message_id="b-busy", invoice_number="RETRY-1", amount="5")  # retryable
    publish(bus_queue, "subscribe", message_id="b-2", account_id=2, plan="plan-2")

    consumer = consume(bus_queue, max_messages=6, first_batch=6)

    assert consumer.batches == 1  # one transaction, one commit, for the six
    assert consumer.counts == {"processed": 2, "duplicate": 1, "dead_lettered": 2, "retried": 1}
    assert fixtures.effects() == ["bus-effect:bus message b-1:plan-1", "bus-effect:bus message b-2:plan-2"]
    assert sorted(ProcessedMessage.objects.values_list("message_id", flat=True)) == ["b-1", "b-2"]
    dead = drain(topology(bus_queue).dead_letter_queue.name)
    assert [headers["x-cc-reason"].split(":")[0] for _, headers in dead] == ["body is not JSON", "ReceiversFailed"]
    assert "cannot refund a negative amount -5" in dead[1][1]["x-cc-reason"]
    waiting = drain(topology(bus_queue).retry_queue.name) + drain(bus_queue)  # it may have expired back already
    assert [(body["message_id"], headers["x-cc-attempts"]) for body, headers in waiting] == [("b-busy", 1)]
    statuses = dict(Trace.objects.filter(kind="command").values_list("sender", "status"))
    assert statuses == {
        "": "error",
        "message b-1": "ok",
        "message b-neg": "error",
        "message b-busy": "retry",
        "message b-2": "ok",
    }


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.parametrize(
    "plan", ["deadlock", pytest.param("kill", marks=pytest.mark.mysql_only, id="connection-killed")]
)
def test_a_lost_transaction_requeues_the_whole_batch_and_each_message_then_runs_alone(
    bus_queue, losing_subscribe, plan
):
    for name in ("a", "b", plan, "c"):
        publish(bus_queue, "subscribe", message_id=f"q-{name}", account_id=1, plan=name)

    # the batch of four is rolled back and requeued; redelivered, each runs alone: a, b, c once each, and the
    # culprit alone takes the bounded retry path (CC_BUS_RETRY_SCHEDULE: 2 retries) to the dead-letter queue
    consumer = consume(bus_queue, max_messages=6, idle_timeout=5, first_batch=4)

    assert consumer.counts == {"requeued": 4, "processed": 3, "retried": 2, "dead_lettered": 1}
    assert consumer.handled == 6
    assert fixtures.effects() == [f"bus-effect:bus message q-{n}:{n}" for n in "abc"]
    assert sorted(ProcessedMessage.objects.values_list("message_id", flat=True)) == ["q-a", "q-b", "q-c"]
    ((body, headers),) = drain(topology(bus_queue).dead_letter_queue.name)
    assert body["message_id"] == f"q-{plan}" and headers["x-cc-reason"].startswith("gave up after 3 attempts")
    assert depth(bus_queue) == 0 and depth(topology(bus_queue).retry_queue.name) == 0
    first, second = TraceNode.objects.filter(kind="command", sender="message q-a").order_by("started_at")
    assert (first.status, second.status) == ("retry", "ok")  # what had seemed done in the batch says it was not
    assert first.result.startswith("requeued: the batch's transaction was rolled back")
    culprit = TraceNode.objects.filter(kind="command", sender=f"message q-{plan}").order_by("started_at").first()
    assert (culprit.status, culprit.error_message.split(":")[0]) == ("retry", "requeued with its batch")


def test_a_lone_message_does_not_wait_for_a_batch_to_fill(bus_queue, monkeypatch):
    waits = []
    gather = CommandConsumer.gather

    def recording_gather(self):  # what gather asks the broker connection for: how long it would wait
        real = self.consuming_on.drain_events
        self.consuming_on.drain_events = lambda timeout: waits.append(timeout) or real(timeout=timeout)
        try:
            gather(self)
        finally:
            del self.consuming_on.drain_events

    monkeypatch.setattr(CommandConsumer, "gather", recording_gather)
    publish(bus_queue, "subscribe", message_id="alone-1", account_id=1, plan="alone")

    consumer = consume(bus_queue, max_messages=5, idle_timeout=1)

    assert consumer.counts == {"processed": 1} and consumer.batches == 1
    assert waits and set(waits) == {0}  # it only looked for what had already arrived
