"""The bus consumer: each command message becomes its coordinator signal, sent in a transaction that also
writes the message's ledger row, and the message is acknowledged only after that transaction commits.

Group commit (ADR 0064): the messages the broker has already delivered (up to CC_BUS_BATCH) are carried out
in one transaction, each in its own savepoint, committed once and then acknowledged together; nothing waits
for a batch to fill. A failure that leaves the transaction unusable (a deadlock, a lost connection) rolls
the whole batch back and requeues it (`requeued`); a redelivered message is carried out alone.

Outcomes (ADR 0060): `processed`; `duplicate` (the ledger's unique message_id refused the row: nothing
changes); `retried` (retryable by core.retries: the message waits in the retry queue, CC_BUS_RETRY_SCHEDULE
bounds how often); `dead_lettered` (malformed, unknown, invalid, a permanent receiver failure, or retries
spent: the dead-letter queue gets it with its reason). Every outcome is acknowledged after it is safe:
committed, or published with a broker confirm. A lost connection is re-established by kombu and the
unacknowledged messages come back, where the ledger makes them duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal as os_signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connections, transaction
from django.utils import timezone
from kombu.mixins import ConsumerProducerMixin

from commerce_coordinator.apps.core import retries, tracing
from commerce_coordinator.apps.core.signals import ERROR, SendResult

from . import messages
from .models import ProcessedMessage
from .topology import Topology

logger = logging.getLogger(__name__)

PROCESSED, DUPLICATE, RETRIED, DEAD_LETTERED = "processed", "duplicate", "retried", "dead_lettered"
REQUEUED = "requeued"  # not an outcome of the message: its batch was rolled back and it comes back
ATTEMPTS_HEADER, REASON_HEADER = "x-cc-attempts", "x-cc-reason"
RECYCLE_EVERY = 1.0  # seconds between checks of the database connections (each costs a ping on the next query)
PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.5, "interval_step": 1, "interval_max": 3}


class BatchBroken(Exception):
    """The batch's transaction cannot go on (rolled back by a deadlock, or its connection lost): requeue it all."""


class ReceiversFailed(Exception):
    """A receiver of the command's signal failed: the whole command is rolled back."""

    def __init__(self, result: SendResult):
        self.failures = [r for r in result if r.status == ERROR]
        super().__init__("; ".join(f"{r.receiver}: {type(r.error).__name__}: {r.error}" for r in self.failures))

    @property
    def retryable(self) -> bool:
        """Worth another try only when every failure is (core's one classification)."""
        return all(retries.is_retryable(r.error) for r in self.failures)

    @property
    def retry_after(self) -> float | None:
        asked = [s for s in (retries.retry_after_of(r.error) for r in self.failures) if s is not None]
        return max(asked, default=None)


def recycle_database_connections() -> None:
    """A long-running consumer drops broken or old (CONN_MAX_AGE) connections, as Django does around each
    request; never one inside a transaction (the open trace batch, a test's)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class TraceBatch:
    """Lets the traces of consecutive messages commit together on the trace database: one commit (fsync) per
    batch instead of one per message. A trace is observability, never the command's state: the ledger
    commit is per message and the ack waits for it; a consumer that dies loses at most the open batch's
    traces, never a command."""

    def __init__(self, size: int, seconds: float):
        self.size, self.seconds = size, seconds
        self.block = None
        self.count = 0
        self.opened = 0.0

    def begin(self) -> None:
        # Not on SQLite: an open transaction there locks the whole trace file against other processes.
        if self.size > 1 and self.block is None and connections[settings.CC_TRACE_DATABASE].vendor != "sqlite":
            self.block = transaction.atomic(using=settings.CC_TRACE_DATABASE)
            self.block.__enter__()
            self.count, self.opened = 0, time.monotonic()

    def written(self) -> None:
        self.count += 1
        if self.count >= self.size or time.monotonic() - self.opened >= self.seconds:
            self.commit()

    def commit(self) -> None:
        block, self.block = self.block, None
        if block is None:
            return
        try:
            block.__exit__(None, None, None)
        except DatabaseError:  # tracing must never stop the consumer
            logger.exception("Could not commit the traces of %d bus message(s)", self.count)


class CommandConsumer(ConsumerProducerMixin):
    """Consumes the command queue until stopped, `max_messages` were handled, or `idle_timeout` passed."""

    def __init__(self, connection, topology: Topology, max_messages=None, idle_timeout=None):
        self.connection = connection
        self.topology = topology
        self.max_messages = max_messages
        self.idle_timeout = idle_timeout
        self.batch_size = settings.CC_BUS_BATCH
        self.counts: Counter = Counter()
        self.handled = 0
        self.batches = 0  # batches carried out and acknowledged (a batch of one included)
        self.last_activity = self.recycled_at = time.monotonic()
        self.kill_after_commit = getattr(settings, "CC_BUS_TEST_KILL_AFTER_COMMIT", False)
        self.traces = TraceBatch(settings.CC_BUS_TRACE_BATCH, settings.CC_BUS_TRACE_BATCH_SECONDS)
        self.delivered: list = []  # messages the broker delivered that are not carried out yet
        self.outbox: list = []  # retries and dead letters to publish once the transaction has ended
        self.consuming_on = None  # the connection kombu consumes on (a clone of self.connection)

    def run(self, *args, **kwargs):
        try:
            super().run(*args, **kwargs)
        finally:
            self.traces.commit()

    # --- kombu's ConsumerMixin hooks ---------------------------------------------------------

    def get_consumers(self, Consumer, channel):
        self.topology.declare(channel)
        self.delivered = []  # a new channel: the old one's unacknowledged messages went back to the queue
        prefetch = settings.CC_BUS_PREFETCH
        if self.max_messages:  # a one-shot holds no more than it will handle
            prefetch = min(prefetch, self.max_messages - self.handled)
        return [Consumer(queues=[self.topology.queue], on_message=self.on_message, prefetch_count=prefetch)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.consuming_on = connection

    def on_connection_revived(self):
        logger.info("Bus consumer connected to %s", self.connection.as_uri())

    def on_connection_error(self, exc, interval):
        logger.warning("Bus broker unreachable (%s); trying again in %ss", exc, interval)

    def on_iteration(self):
        if self.traces.block is not None and time.monotonic() - self.traces.opened >= self.traces.seconds:
            self.traces.commit()  # nothing arrived for a while: do not keep the batch open
        if self.idle_timeout and time.monotonic() - self.last_activity >= self.idle_timeout:
            self.should_stop = True

    def consume(self, *args, **kwargs):
        """kombu's loop; after a delivery, what else is already delivered joins it and they are carried out."""
        with contextlib.closing(super().consume(*args, **kwargs)) as deliveries:
            for _ in deliveries:
                if self.delivered:
                    self.gather()
                    self.carry_out(self.take_delivered())
                yield

    def on_message(self, message) -> None:
        self.delivered.append(message)

    # --- batches ---------------------------------------------------------------------------------

    def gather(self) -> None:
        """Read what the broker has already sent, up to a batch; never wait for more (an idle queue adds no
        latency: a lone message is a batch of one)."""
        while not self.should_stop and len(self.delivered) < self.batch_limit():
            try:
                self.consuming_on.drain_events(timeout=0)
            except TimeoutError:
                return

    def batch_limit(self) -> int:
        if self.max_messages:
            return max(1, min(self.batch_size, self.max_messages - self.handled))
        return self.batch_size

    def take_delivered(self) -> list:
        taken, self.delivered = self.delivered, []
        return taken

    def carry_out(self, delivered: list) -> None:
        if time.monotonic() - self.recycled_at >= RECYCLE_EVERY:
            recycle_database_connections()
            self.recycled_at = time.monotonic()
        self.traces.begin()
        for batch in batches(delivered):
            self.carry_out_batch(batch)
        self.last_activity = time.monotonic()
        if self.max_messages and self.handled >= self.max_messages:
            self.should_stop = True

    def carry_out_batch(self, batch: list) -> None:
        """One transaction for the batch (a savepoint per message; a batch of one is the message's own
        transaction), one commit, then the retries and dead letters published, then every ack. The batch's
        traces are written together once its outcome is known."""
        together = len(batch) > 1
        done: list = []  # (message, outcome, root trace node)
        self.outbox = []
        with tracing.deferred_writes():
            try:
                with transaction.atomic() if together else contextlib.nullcontext():
                    for message in batch:
                        outcome, node = self.handle_traced(message, together)
                        if outcome == REQUEUED:
                            raise BatchBroken
                        done.append((message, outcome, node))
            except (BatchBroken, DatabaseError) as exc:  # rolled back, or the commit itself failed
                self.requeue(batch, done, exc)
                return
        self.batches += 1
        if self.kill_after_commit and any(outcome == PROCESSED for _, outcome, _ in done):
            os.kill(os.getpid(), os_signal.SIGKILL)  # test hook: die between commit and ack
        for publish in self.outbox:
            publish()
        for message, outcome, _ in done:
            message.ack()  # only now: the outcome is committed, or published to the retry/dead-letter queue
            self.traces.written()
            self.counts[outcome] += 1
            self.handled += 1

    def requeue(self, batch: list, done: list, exc: Exception) -> None:
        """Give the whole rolled-back batch back to the broker (it comes back redelivered, each message then
        alone); the traces of what had seemed done say so."""
        reason = "the batch's transaction was rolled back"
        if isinstance(exc, DatabaseError):
            reason = f"the batch's commit failed: {type(exc).__name__}: {exc}"
        logger.warning("Bus batch of %d message(s) requeued: %s", len(batch), reason)
        recycle_database_connections()
        self.outbox = []
        for _, _, node in done:  # their traces, not written yet, said processed (or duplicate): not so
            requeued(node, f"requeued: {reason}")
        for message in batch:
            message.requeue()
            self.traces.written()
        self.counts[REQUEUED] += len(batch)

    # --- one message --------------------------------------------------------------------------

    def handle_traced(self, message, together: bool):
        with tracing.trace(tracing.new_id()) as ctx:  # one trace per message
            with tracing.span("command", "bus.consume_billing_commands") as node:
                return self.handle(message, node, ctx, together), node

    def handle(self, message, node, ctx, together: bool = False) -> str:
        try:
            command = messages.parse(message.body)
        except messages.RejectedMessage as exc:
            return self.dead_letter(message, str(exc), ctx)
        describe(node, ctx, command)
        try:
            with transaction.atomic():  # a savepoint in a batch
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
            return done(node, DUPLICATE, f"message {command.message_id} was processed before: nothing done")
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if together and breaks_the_batch(exc):
                tracing.set_outcome(tracing.RETRY, f"requeued with its batch: {reason}")
                return REQUEUED
            if isinstance(exc, DatabaseError):
                recycle_database_connections()
            logger.warning("Bus command %s (%s) failed: %s", command.command, command.message_id, reason)
            if retries.is_retryable(exc):
                return self.retry(message, reason, ctx, retries.retry_after_of(exc))
            return self.dead_letter(message, reason, ctx)
        return done(node, PROCESSED, f"{command.command} {command.message_id} processed")

    def retry(self, message, reason: str, ctx, retry_after: float | None = None) -> str:
        """Into the retry queue for the schedule's next delay; when the schedule is spent, dead-letter it."""
        attempts = attempts_before(message) + 1  # this one included
        delay = retries.RetryPolicy.from_settings("CC_BUS_RETRY_SCHEDULE").countdown(attempts, retry_after)
        if delay is None:
            return self.dead_letter(message, f"gave up after {attempts} attempts: {reason}", ctx)
        headers = {**(message.headers or {}), ATTEMPTS_HEADER: attempts, REASON_HEADER: reason[:1000]}
        self.republish_later(message, self.topology.retry_queue, headers, expiration=delay)
        tracing.set_outcome(
            tracing.RETRY, reason, attempt=attempts, next_attempt_at=timezone.now() + timedelta(seconds=delay)
        )
        return RETRIED

    def dead_letter(self, message, reason: str, ctx) -> str:
        logger.error("Bus message dead-lettered: %s", reason)
        headers = {
            **(message.headers or {}),
            REASON_HEADER: reason[:1000],
            "x-cc-dead-lettered-at": datetime.now(UTC).isoformat(),
            "x-cc-trace-id": ctx.trace_id,
        }
        self.republish_later(message, self.topology.dead_letter_queue, headers)
        tracing.set_outcome(tracing.ERROR, f"dead-lettered: {reason}")
        return DEAD_LETTERED

    def republish_later(self, message, queue, headers: dict, expiration=None) -> None:
        """Publish once the transaction has ended: a batch rolled back and requeued leaves no copy behind."""
        self.outbox.append(lambda: self.republish(message, queue, headers, expiration))

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


def batches(delivered: list) -> list[list]:
    """Consecutive first deliveries form one batch; a redelivered message (its batch was rolled back, or a
    consumer died holding it) is a batch of its own, so one message cannot keep rolling others back."""
    found: list[list] = []
    batch: list = []
    for message in delivered:
        if (message.delivery_info or {}).get("redelivered"):
            found += [batch, [message]] if batch else [[message]]
            batch = []
        else:
            batch.append(message)
    return found + [batch] if batch else found


def breaks_the_batch(exc: Exception) -> bool:
    """Whether a failure left the batch's transaction unusable: its savepoint could not be rolled back (InnoDB
    rolls a deadlocked transaction back whole), or it is a database error core retries (deadlock, lock wait,
    lost connection): the batch goes back to the queue and each message comes back alone."""
    if transaction.get_connection().needs_rollback:
        return True
    errors = [f.error for f in exc.failures] if isinstance(exc, ReceiversFailed) else [exc]
    return any(isinstance(error, (OperationalError, InterfaceError)) for error in errors)


def requeued(node, reason: str) -> None:
    """Mark the root node of a message whose batch was rolled back: retry, with why."""
    if node is not None:
        node.outcome(tracing.RETRY, reason)
        node.finish(node.status, node.duration_ms)
        node.result = reason


def attempts_before(message) -> int:
    """How often the message was tried before (our own header; anything unreadable counts as none)."""
    try:
        return max(0, int((message.headers or {}).get(ATTEMPTS_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


def describe(node, ctx, command: messages.CommandMessage) -> None:
    """Name the message's node and trace after the command, with the message id and the arguments'
    business keys (account_id, invoice_number, ...) as the trace's keys."""
    tracing.name_trace(f"bus.{command.command}")
    keys = {k: v for k, v in command.raw_arguments.items() if k in tracing.BUSINESS_KEYS and v is not None}
    tracing.add_keys(message_id=command.message_id, **keys)
    if node is not None:
        node.name, node.sender = f"bus.{command.command}", f"message {command.message_id}"


def done(node, outcome: str, text: str) -> str:
    if node is not None:
        node.result = f"{outcome}: {text}"
    return outcome
