"""Settings of apps/bus: the RabbitMQ queue that carries admin-panel commands (CC_BUS_COMMANDS is in base.py)."""

import os

# The bus broker is RabbitMQ, apart from Celery's broker (which may be Redis).
CC_BUS_BROKER_URL = os.environ.get("CC_BUS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CC_BUS_EXCHANGE = os.environ.get("CC_BUS_EXCHANGE", "cc.billing")  # a durable direct exchange
CC_BUS_ROUTING_KEY = "billing.command"
CC_BUS_QUEUE = os.environ.get("CC_BUS_QUEUE", "cc.billing.commands")  # durable; bound to the exchange
# Malformed or impossible commands, with the reason in their headers (x-cc-reason); derived from the queue.
CC_BUS_DEAD_LETTER_QUEUE = None  # None: "<CC_BUS_QUEUE>.dead"
CC_BUS_RETRY_QUEUE = None  # None: "<CC_BUS_QUEUE>.retry" (a waiting room: its messages expire back to the queue)
# Seconds before each redelivery of a command whose failure is retryable; when spent: the dead-letter queue.
CC_BUS_RETRY_SCHEDULE = [5, 30, 120, 600]
CC_BUS_PREFETCH = 50  # unacknowledged messages the consumer holds at once
# Group commit (ADR 0064): up to this many messages already delivered are carried out in one transaction (a
# savepoint each), committed once, then acknowledged; 1: one transaction per message. Keep it below the
# prefetch so the broker sends the next messages while a batch commits.
CC_BUS_BATCH = 20
CC_BUS_QUEUE_ARGUMENTS: dict = {}  # extra x-arguments of the queue, e.g. {"x-queue-type": "quorum"}
# The traces of up to this many consecutive messages (or of CC_BUS_TRACE_BATCH_SECONDS) commit together on the
# trace database; 1: each trace commits alone. Commands commit (per CC_BUS_BATCH) before their ack.
CC_BUS_TRACE_BATCH = 50
CC_BUS_TRACE_BATCH_SECONDS = 0.5
