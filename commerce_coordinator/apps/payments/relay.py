"""The per-process publish relay: stored events' processing, published in batches by one background thread.

Publishing one Celery message costs about a millisecond of CPU (Celery + kombu + a Redis round trip), more
than the rest of a webhook's work. So, with a real broker, the view's on-commit callback only appends the
event to this process's queue; a daemon thread (started lazily, one per process, started again in a forked
child) wakes when the queue gets an item and publishes it at once when the relay is idle; while events come
close together (less than a quarter window apart), it publishes at most once per ``PAYMENTS_RELAY_WINDOW``
seconds, the lot (at most ``PAYMENTS_RELAY_MAX_BATCH``) as ONE ``process_webhook_events`` task (ADR 70, 74).

Nothing here is needed for durability: the event is committed before it is queued. If the process dies
before the relay publishes, or the broker refuses the message, the event stays pending and core's generic
sweep (core.sweep_durable_work) enqueues it after ``CC_DURABLE_STALLED_AFTER``. Duplicate safety stays with
the database claim.
At a normal interpreter exit the queue is flushed (atexit), so a graceful restart leaves nothing behind.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

Item = tuple[int, str, bool]  # (event pk, trace id, trace sampled)


# Events that come further apart than this fraction of the window are a sparse stream: each is published at
# once (waiting would add latency and gather nothing); closer together, they wait for the window and go together.
SPARSE_GAP = 0.25


class Relay:
    def __init__(self, publish, window: float = 0.0, max_batch: int = 100):
        self.publish = publish  # publish(list[Item]); raising means: not published (logged, the sweep recovers)
        self.window = window  # while events come close together, at most one publish per window
        self.max_batch = max_batch
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child inherits the parent's queue (published, or to be published, by the parent) but not
        # its thread: start empty, with a fresh lock, and start a thread on first use.
        self._items: deque[Item] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._publishing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopped = False
        self._last_publish = float("-inf")  # idle: the next item is published at once
        self._last_arrival = float("-inf")
        self._close_together = False  # the last item came within SPARSE_GAP windows of the one before

    def submit(self, item: Item) -> None:
        """Queue one committed event for publishing (called from the view's on-commit callback: cheap)."""
        if self._pid != os.getpid():  # forked without register_at_fork (never on CPython 3.7+)
            self._reset()
        with self._wake:
            now = time.monotonic()
            self._close_together = now - self._last_arrival < self.window * SPARSE_GAP
            self._last_arrival = now
            self._items.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="payments-relay", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> int:
        return len(self._items)

    def _run(self) -> None:
        while not self._stopped:
            with self._wake:
                while not self._items and not self._stopped:
                    self._wake.wait()
            busy_for = self._last_publish + self.window - time.monotonic()
            if busy_for > 0 and self._close_together:  # a stream of events: let more arrive for this message
                time.sleep(busy_for)
            self._last_publish = time.monotonic()
            self._publish_batch()

    def flush(self) -> int:
        """Publish everything queued now (batches of at most max_batch); returns how many events were handed over."""
        done = 0
        while self._items:
            done += self._publish_batch()
        return done

    def _publish_batch(self) -> int:
        """Publish up to max_batch queued items as one message; what arrives meanwhile waits for the next one."""
        with self._publishing:  # the thread and an atexit flush never publish the same items twice
            batch = []
            while self._items and len(batch) < self.max_batch:
                batch.append(self._items.popleft())
            if not batch:
                return 0
            try:
                self.publish(batch)
                return len(batch)
            except Exception:
                logger.exception(
                    "Could not publish the processing of webhook events %s; the sweep will enqueue them",
                    [pk for pk, _, _ in batch],
                )
                return 0

    def stop(self, flush: bool = True) -> None:
        self._stopped = True
        with self._wake:
            self._wake.notify_all()
        if flush:
            self.flush()


# The batch task (tasks.process_webhook_events) by its registered name: the relay sits below the tasks
# (the import-linter layers of payments in pyproject.toml), so it publishes by name, never by import.
BATCH_TASK = "commerce_coordinator.apps.payments.tasks.process_webhook_events"


def _publish(batch: list[Item]) -> None:
    # retry=False: a broker that is down fails at once (logged) instead of holding the process.
    current_app.send_task(BATCH_TASK, args=[[list(item) for item in batch]], retry=False)


_relay: Relay | None = None
_relay_lock = threading.Lock()


def get_relay() -> Relay:
    global _relay
    if _relay is None:
        with _relay_lock:
            if _relay is None:
                _relay = Relay(_publish, settings.PAYMENTS_RELAY_WINDOW, settings.PAYMENTS_RELAY_MAX_BATCH)
                atexit.register(_flush_at_exit)
    return _relay


def _flush_at_exit() -> None:
    relay = _relay
    if relay is not None and relay._pid == os.getpid() and relay.pending():
        try:
            relay.stop(flush=True)
        except Exception:  # never fail an exit; the sweep recovers
            logger.exception("payments relay: flush at exit failed")
