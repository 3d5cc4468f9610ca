"""`manage.py consume_billing_commands` as a real process: killed between commit and ack, and a dropped
connection (closed by RabbitMQ, as when it restarts): nothing is lost and nothing is done twice."""

import re
import signal
import time

import pytest

from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.tests import fixtures
from commerce_coordinator.apps.bus.tests.support import (
    BrokerProxy,
    ConsumerProcess,
    close_rabbitmq_connections,
    consume,
    depth,
    publish,
    rabbitmq_connections,
)
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
    for _ in range(2):  # every id twice, 60 messages apart, so that the copies land on different consumers
        for n in range(60):
            publish(bus_queue, "subscribe", message_id=f"race-{n}", account_id=n, plan=f"race-{n}")
    consumers = [ConsumerProcess(bus_queue, "--idle-timeout", "3") for _ in range(2)]
    for consumer in consumers:
        assert consumer.wait(120) == 0, consumer.log()

    assert ProcessedMessage.objects.count() == 60 and len(fixtures.effects()) == 60
    summaries = [re.search(r"Handled (\d+) message\(s\): (\d+) processed, (\d+) duplicate", c.log()) for c in consumers]
    handled, processed, duplicates = (sum(int(m.group(i)) for m in summaries) for i in (1, 2, 3))
    assert (handled, processed, duplicates) == (120, 60, 60)
    assert all(int(m.group(1)) > 0 for m in summaries), "both consumers took part"
    assert depth(bus_queue) == 0
