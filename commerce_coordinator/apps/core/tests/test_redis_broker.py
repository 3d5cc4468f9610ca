"""The Redis broker transport the Celery app installs (commerce_coordinator.redis_broker): one synchronous
redis-py client per channel and pool instead of one per command, with kombu's behaviour otherwise unchanged."""

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

from commerce_coordinator import celery as celery_module  # noqa: F401 (installs the transport alias)
from commerce_coordinator.redis_broker import Channel

pytestmark = pytest.mark.redis


def test_a_redis_url_gets_the_transport_that_keeps_one_client_per_pool():
    with Connection(settings.CC_TEST_REDIS_URL) as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first  # not a new redis.Redis per command
        assert channel._create_client(asynchronous=True) is not first  # the consumer's client stays kombu's own
        channel._pool = None  # what kombu does after a fork or a close: a new pool, so a new client on it
        assert channel._create_client() is not first and channel._create_client().connection_pool is channel.pool


def test_messages_published_acked_and_redelivered_as_with_kombus_own_transport():
    exchange = Exchange("cc-test-redis-broker", type="direct")
    queue = Queue("cc-test-redis-broker", exchange, routing_key="cc-test-redis-broker")
    with Connection(settings.CC_TEST_REDIS_URL) as conn:
        queue(conn.default_channel).declare()
        queue(conn.default_channel).purge()
        producer = conn.Producer(serializer="json")
        for n in range(3):
            producer.publish({"n": n}, exchange=exchange, routing_key="cc-test-redis-broker", declare=[queue])
        simple = conn.SimpleQueue(queue)
        got = [simple.get(timeout=5) for _ in range(3)]
        assert [m.payload["n"] for m in got] == [0, 1, 2]
        got[0].ack(), got[1].ack()
        got[2].requeue()  # not acked: the broker has it again
        assert simple.get(timeout=5).payload == {"n": 2}
        simple.close()
