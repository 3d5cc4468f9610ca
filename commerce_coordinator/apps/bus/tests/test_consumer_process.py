"""`manage.py consume_billing_commands` as a real process: killed between commit and ack, and a dropped
connection (closed by RabbitMQ, as when it restarts): nothing is lost and nothing is done twice."""

import re
import signal
import time

import pytest

from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.publisher import publish_command
from commerce_coordinator.apps.bus.tests import fixtures
from commerce_coordinator.apps.bus.tests.support import (
    BrokerProxy,
    ConsumerProcess,
    close_rabbitmq_connections,
    consume,
    consumer_count,
    declare,
    depth,
    publish,
    rabbitmq_connections,
    unsettled,
)
from commerce_coordinator.apps.bus.topology import connection
from commerce_coordinator.apps.core.models import TraceKey
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_a_consumer_killed_between_commit_and_ack_leaves_a_redelivery_that_changes_nothing(bus_queue):
    publish(bus_queue, "subscribe", message_id="kill-1", account_id=5, plan="demo-monthly")
    killed = ConsumerProcess(bus_queue, "--max-messages", "1", CC_BUS_TEST_KILL_AFTER_COMMIT="1")
    assert killed.wait(60) == -signal.SIGKILL, killed.log()

    assert ProcessedMessage.objects.filter(message_id="kill-1").count() == 1  # committed ...
    assert fixtures.effects() == ["bus-effect:bus message kill-1:demo-monthly"]
    wait_until(lambda: depth(bus_queue) == 1, 10, message="the unacknowledged message back in the queue")

    again = consume(bus_queue, max_messages=1)  # ... and redelivered: the ledger refuses it

    assert again.counts == {"duplicate": 1}
    assert fixtures.effects() == ["bus-effect:bus message kill-1:demo-monthly"]
    assert ProcessedMessage.objects.count() == 1 and depth(bus_queue) == 0


def test_the_consumer_reconnects_when_its_connection_drops_and_loses_nothing(bus_queue):
    consumer = ConsumerProcess(bus_queue)
    try:
        for n in range(5):
            publish(bus_queue, "subscribe", message_id=f"before-{n}", account_id=n, plan=f"before-{n}")
        wait_until(lambda: ProcessedMessage.objects.count() == 5, 60, message="5 commands before the drop")
        wait_until(lambda: rabbitmq_connections(consumer.connection_name), 10, message="the consumer's connection")

        assert close_rabbitmq_connections(consumer.connection_name) >= 1
        for n in range(5):
            publish(bus_queue, "subscribe", message_id=f"after-{n}", account_id=n, plan=f"after-{n}")

        wait_until(lambda: ProcessedMessage.objects.count() == 10, 60, message="5 commands after the drop")
        wait_until(lambda: rabbitmq_connections(consumer.connection_name), 30, message="a new connection")
    finally:
        consumer.stop()
    assert consumer.process.returncode == 0, consumer.log()
    # the last ack before the drop may have been cut with it: that message came back as a harmless duplicate
    assert re.search(r"Handled 1[01] message\(s\): 10 processed, [01] duplicate, 0 retried", consumer.log())
    assert consumer.log().count("Bus consumer connected") == 2, consumer.log()  # once more after the drop
    traced = {key.value for key in TraceKey.objects.filter(key="message_id")}  # every trace stored (batched)
    assert traced == {f"{when}-{n}" for when in ("before", "after") for n in range(5)}
    assert len(fixtures.effects()) == 10 and depth(bus_queue) == 0


def test_the_consumer_rides_out_a_broker_outage_and_loses_nothing(bus_queue):
    proxy = BrokerProxy().start()
    consumer = ConsumerProcess(bus_queue, CC_BUS_BROKER_URL=proxy.url)
    try:
        publish(bus_queue, "subscribe", message_id="up-1", account_id=1, plan="up-1")
        wait_until(lambda: ProcessedMessage.objects.count() == 1, 60, message="a command before the outage")

        proxy.stop()  # connections cut, new ones refused: the broker is "down"
        for n in range(5):
            publish(bus_queue, "subscribe", message_id=f"during-{n}", account_id=n, plan=f"during-{n}")
        time.sleep(3)
        assert ProcessedMessage.objects.count() == 1
        proxy.start()  # "back up" on the same port

        wait_until(lambda: ProcessedMessage.objects.count() == 6, 60, message="the commands sent during the outage")
    finally:
        consumer.stop()
        proxy.stop()
    # up-1's ack may have been cut with the connection: then it came back, a duplicate that changed nothing
    assert re.search(r"Handled [67] message\(s\): 6 processed, [01] duplicate, 0 retried", consumer.log()), (
        consumer.log()
    )
    assert "Bus broker unreachable" in consumer.log()  # it did retry while the broker was away
    assert len(fixtures.effects()) == 6 and depth(bus_queue) == 0


@pytest.mark.mysql_only
def test_two_consumers_racing_on_repeated_message_ids_carry_each_command_out_once(bus_queue):
    declare(bus_queue)
    consumers = [ConsumerProcess(bus_queue) for _ in range(2)]
    try:
        # both consuming before the first message: a process that starts late (a loaded machine) would
        # otherwise find the work done by the other and the race would not be run
        wait_until(lambda: consumer_count(bus_queue) == 2, 60, message="both consumers consuming")
        with connection("cc-test-race", confirm_publish=True) as conn:
            for _ in range(2):  # every id twice, 60 messages apart, so that the copies land on different consumers
                for n in range(60):
                    publish_command("subscribe", {"account_id": n, "plan": f"race-{n}"}, f"race-{n}", bus_queue, conn)
        wait_until(lambda: unsettled(bus_queue) == 0, 120, interval=0.5, message="all 120 messages acknowledged")
    finally:
        for consumer in consumers:
            consumer.stop()
    assert all(consumer.process.returncode == 0 for consumer in consumers), [c.log() for c in consumers]

    assert ProcessedMessage.objects.count() == 60 and len(fixtures.effects()) == 60
    pattern = r"Handled (\d+) message\(s\): (\d+) processed, (\d+) duplicate, (\d+) retried, (\d+) dead_lettered"
    summaries = [[int(n) for n in re.search(pattern, c.log()).groups()] for c in consumers]
    handled, processed, duplicates, retried, dead = (sum(column) for column in zip(*summaries, strict=True))
    assert (processed, duplicates, dead) == (60, 60, 0)
    assert handled == 120 + retried  # a deadlock between the two may send a message round the retry queue
    assert all(summary[0] > 0 for summary in summaries), "both consumers took part"
    assert depth(bus_queue) == 0
