"""The bus's RabbitMQ objects, from settings: the command exchange and queue, the retry and dead-letter queues.

Every process declares them before use (declaring is idempotent), so neither the consumer nor a publisher
depends on the other having run first.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

from django.conf import settings
from kombu import Connection, Exchange, Queue

DEFAULT_EXCHANGE = Exchange("", type="direct")  # RabbitMQ's default exchange: routing key = queue name


@dataclass(frozen=True)
class Topology:
    exchange: Exchange
    routing_key: str
    queue: Queue
    retry_queue: Queue
    dead_letter_queue: Queue

    def declare(self, channel) -> None:
        for queue in (self.queue, self.retry_queue, self.dead_letter_queue):
            queue.bind(channel).declare()


def topology(queue_name: str | None = None) -> Topology:
    """The objects for CC_BUS_QUEUE (or another queue name: tests and benchmarks use their own)."""
    name = queue_name or settings.CC_BUS_QUEUE
    routing_key = settings.CC_BUS_ROUTING_KEY if queue_name is None else name
    exchange = Exchange(settings.CC_BUS_EXCHANGE, type="direct", durable=True)
    queue = Queue(
        name,
        exchange,
        routing_key=routing_key,
        durable=True,
        auto_delete=False,
        queue_arguments=dict(settings.CC_BUS_QUEUE_ARGUMENTS) or None,
    )
    retry_name = (queue_name is None and settings.CC_BUS_RETRY_QUEUE) or f"{name}.retry"
    dead_name = (queue_name is None and settings.CC_BUS_DEAD_LETTER_QUEUE) or f"{name}.dead"
    # A message waits in the retry queue for its `expiration`, then RabbitMQ dead-letters it back to the queue.
    retry_queue = Queue(
        retry_name,
        DEFAULT_EXCHANGE,
        routing_key=retry_name,
        durable=True,
        auto_delete=False,
        queue_arguments={"x-dead-letter-exchange": exchange.name, "x-dead-letter-routing-key": routing_key},
    )
    dead_letter_queue = Queue(dead_name, DEFAULT_EXCHANGE, routing_key=dead_name, durable=True, auto_delete=False)
    return Topology(exchange, routing_key, queue, retry_queue, dead_letter_queue)


def connection(name: str = "", url: str | None = None, confirm_publish: bool = False) -> Connection:
    """A kombu connection to the bus broker, named (RabbitMQ shows the name) after this process by default."""
    name = name or f"{os.path.basename(sys.argv[0])}@{socket.gethostname()}:{os.getpid()}"
    options = {"client_properties": {"connection_name": name}}
    if confirm_publish:
        options["confirm_publish"] = True  # publish() returns once the broker has the message
    return Connection(url or settings.CC_BUS_BROKER_URL, transport_options=options, connect_timeout=5)
