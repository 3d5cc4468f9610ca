"""The bus consumer: each command message becomes its coordinator signal, sent in a transaction that also
writes the message's ledger row, and the message is acknowledged only after that transaction commits.

Outcomes (ADR 0060): `processed`; `duplicate` (the ledger's unique message_id refused the row: nothing
changes); `retried` (a retryable failure: the message waits in the retry queue, CC_BUS_RETRY_SCHEDULE
bounds how often); `dead_lettered` (malformed, unknown, invalid, a permanent receiver failure, or retries
spent: the dead-letter queue gets it with its reason). Every outcome is acknowledged after it is safe:
committed, or published with a broker confirm. A lost connection is re-established by kombu and the
unacknowledged messages come back, where the ledger makes them duplicates.
"""

from __future__ import annotations

import logging
import os
import signal as os_signal
import time
from collections import Counter
from datetime import UTC, datetime

from django import db
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from kombu.mixins import ConsumerProducerMixin

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.signals import ERROR, SendResult

from . import messages
from .models import ProcessedMessage
from .topology import Topology

logger = logging.getLogger(__name__)

PROCESSED, DUPLICATE, RETRIED, DEAD_LETTERED = "processed", "duplicate", "retried", "dead_lettered"
ATTEMPTS_HEADER, REASON_HEADER = "x-cc-attempts", "x-cc-reason"
PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.5, "interval_step": 1, "interval_max": 3}


class ReceiversFailed(Exception):
    """A receiver of the command's signal failed: the whole command is rolled back."""

    def __init__(self, result: SendResult):
        self.failures = [r for r in result if r.status == ERROR]
        super().__init__("; ".join(f"{r.receiver}: {type(r.error).__name__}: {r.error}" for r in self.failures))

    @property
    def retryable(self) -> bool:
        return all(is_retryable(r.error) for r in self.failures)


def is_retryable(exc: BaseException) -> bool:
    """Worth another try later: network trouble, a database that is away, or an error that says so."""
    if isinstance(exc, ReceiversFailed):
        return exc.retryable
    if isinstance(exc, IntegrityError):
        return False
    return bool(getattr(exc, "retryable", False)) or isinstance(exc, (ConnectionError, TimeoutError, DatabaseError))


def recycle_database_connections() -> None:
    """A long-running consumer drops broken or old (CONN_MAX_AGE) connections, as Django does per request;
    never inside an outer transaction (a test's)."""
    if not transaction.get_connection().in_atomic_block:
        db.close_old_connections()


class CommandConsumer(ConsumerProducerMixin):
    """Consumes the command queue until stopped, `max_messages` were handled, or `idle_timeout` passed."""

    def __init__(self, connection, topology: Topology, max_messages=None, idle_timeout=None):
        self.connection = connection
        self.topology = topology
        self.max_messages = max_messages
        self.idle_timeout = idle_timeout
        self.counts: Counter = Counter()
        self.handled = 0
        self.last_activity = time.monotonic()
        self.kill_after_commit = getattr(settings, "CC_BUS_TEST_KILL_AFTER_COMMIT", False)

    # --- kombu's ConsumerMixin hooks ---------------------------------------------------------

    def get_consumers(self, Consumer, channel):
        self.topology.declare(channel)
        prefetch = settings.CC_BUS_PREFETCH
        if self.max_messages:  # a one-shot holds no more than it will handle
            prefetch = min(prefetch, self.max_messages - self.handled)
        return [Consumer(queues=[self.topology.queue], on_message=self.on_message, prefetch_count=prefetch)]

    def on_connection_revived(self):
        logger.info("Bus consumer connected to %s", self.connection.as_uri())

    def on_connection_error(self, exc, interval):
        logger.warning("Bus broker unreachable (%s); trying again in %ss", exc, interval)

    def on_iteration(self):
        if self.idle_timeout and time.monotonic() - self.last_activity >= self.idle_timeout:
            self.should_stop = True

    # --- one message --------------------------------------------------------------------------

    def on_message(self, message) -> None:
        recycle_database_connections()
        with tracing.trace(tracing.new_id()) as ctx:  # one trace per message
            outcome = self.handle(message, ctx)
        if outcome == PROCESSED and self.kill_after_commit:  # test hook: die between commit and ack
            os.kill(os.getpid(), os_signal.SIGKILL)
        message.ack()  # only now: the outcome is committed, or published to the retry/dead-letter queue
        self.counts[outcome] += 1
        self.handled += 1
        self.last_activity = time.monotonic()
        if self.max_messages and self.handled >= self.max_messages:
            self.should_stop = True

    def handle(self, message, ctx) -> str:
        node = ctx.open_node("task", "bus.consume_billing_commands", "")
        ctx.parent_id = node.id
        try:
            command = messages.parse(message.body)
        except messages.RejectedMessage as exc:
            return self.finish(node, self.dead_letter(message, str(exc), ctx), str(exc))
        node.name, node.sender = f"bus.{command.command}", f"message {command.message_id}"
        try:
            with transaction.atomic():
                ProcessedMessage.objects.create(
                    message_id=command.message_id,
                    command=command.command,
                    arguments=tracing.jsonable(command.raw_arguments),
                    trace_id=ctx.trace_id,
                )
                result = command.signal.send(f"bus message {command.message_id}", **command.arguments)
                if not result.ok:
                    raise ReceiversFailed(result)
        except IntegrityError:
            return self.finish(node, DUPLICATE, f"message {command.message_id} was processed before: nothing done")
        except Exception as exc:
            if isinstance(exc, DatabaseError):
                recycle_database_connections()
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("Bus command %s (%s) failed: %s", command.command, command.message_id, reason)
            outcome = self.retry(message, reason, ctx) if is_retryable(exc) else self.dead_letter(message, reason, ctx)
            return self.finish(node, outcome, reason)
        return self.finish(node, PROCESSED, f"message {command.message_id}: {command.command} processed")

    @staticmethod
    def finish(node, outcome: str, text: str) -> str:
        node.result = f"{outcome}: {text}"[: tracing.MAX_TEXT]
        node.finish({DEAD_LETTERED: ERROR, RETRIED: "retry"}.get(outcome, "ok"))
        return outcome

    def retry(self, message, reason: str, ctx) -> str:
        """Into the retry queue for the schedule's next delay; when the schedule is spent, dead-letter it."""
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0))
        schedule = settings.CC_BUS_RETRY_SCHEDULE
        if attempts >= len(schedule):
            return self.dead_letter(message, f"gave up after {attempts + 1} attempts: {reason}", ctx)
        headers = {**(message.headers or {}), ATTEMPTS_HEADER: attempts + 1, REASON_HEADER: reason[:1000]}
        self.republish(message, self.topology.retry_queue, headers, expiration=schedule[attempts])
        return RETRIED

    def dead_letter(self, message, reason: str, ctx) -> str:
        logger.error("Bus message dead-lettered: %s", reason)
        headers = {
            **(message.headers or {}),
            REASON_HEADER: reason[:1000],
            "x-cc-dead-lettered-at": datetime.now(UTC).isoformat(),
            "x-cc-trace-id": ctx.trace_id,
        }
        self.republish(message, self.topology.dead_letter_queue, headers)
        return DEAD_LETTERED

    def republish(self, message, queue, headers: dict, expiration=None) -> None:
        """Publish the message's body unchanged to another queue and wait for the broker's confirm."""
        self.producer.publish(
            message.body,
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            declare=[queue],
            headers=headers,
            content_type=message.content_type or "application/json",
            content_encoding=message.content_encoding or "utf-8",
            delivery_mode=2,
            expiration=expiration,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
