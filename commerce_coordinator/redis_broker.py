"""kombu's Redis transport, keeping one redis-py client per channel for its synchronous commands.

kombu 5.7 builds a new ``redis.Redis`` object (about 0.2 ms of CPU here, more than the command's round trip)
for every publish, every ack and every QoS bookkeeping step; the client is a thread-safe handle on the
channel's connection pool, so one per pool does the same work (ADR 73). Installed for ``redis://`` and
``rediss://`` broker URLs by commerce_coordinator.celery; the consumer's asynchronous client is kombu's own.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self.__dict__.get("_cc_sync_client")
        if client is None or client.connection_pool is not self.pool:  # a new pool (after a fork or a close)
            client = self.__dict__["_cc_sync_client"] = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
