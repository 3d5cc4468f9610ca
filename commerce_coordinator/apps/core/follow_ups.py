"""Follow-up work run in place (ADR 0074): items that a task's work stored, and whose batch task is routed to the
queue of that very task, run in the same worker after the task's own work instead of one more trip through the
broker.

Why: on one queue, the message would come back to the workers of this queue anyway; publishing it costs a publish,
a delivery, a claim of the message and an ack (a 1-line order paid 2 messages where a plain task pipeline pays 1).
What stays: each item is stored (and committed) before it runs, claimed under its own token by the batch task's
own body (`durable.run_batch`), retried by its own task, traced under the node that stored it. What changes: a
worker killed while it runs them leaves them to core's sweep, as a lost message would. Items routed to another
queue (production's split queues: webhooks never wait for the LMS) are published as before.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.utils.module_loading import import_string

from . import durable, tracing

logger = logging.getLogger(__name__)

_local = threading.local()


def queue_of(task_name: str) -> str:
    """The queue a task of this name is routed to (CELERY_TASK_ROUTES, else the default queue)."""
    from celery import current_app

    route = current_app.amqp.router.route({}, task_name)
    queue = route.get("queue")
    return getattr(queue, "name", queue) or current_app.conf.task_default_queue


class Collector:
    """The follow-ups of one task run: (model, items, trace headers), in the order their transactions committed."""

    def __init__(self, task_name: str, queue: str):
        self.task_name, self.queue = task_name, queue
        self.pending: list[tuple] = []
        self.deadline = time.monotonic() + settings.CC_FOLLOW_UPS_IN_PLACE_SECONDS  # from the task's start
        self._queues: dict = {}

    def takes(self, model, items: list) -> bool:
        """These items run here when the task that would carry them (the batch task for several, the item's own
        task for one) is routed to this task's queue, and the batch is small enough to run in place."""
        if len(items) > settings.CC_FOLLOW_UPS_IN_PLACE_MAX_ITEMS or not model.batch_task_path:
            return False
        key = (model, len(items) > 1)
        if key not in self._queues:
            self._queues[key] = queue_of(import_string(model.batch_task_path).name if key[1] else model.task().name)
        return self._queues[key] == self.queue

    def add(self, model, items: list, headers: dict, instances=None) -> None:
        self.pending.append((model, [list(item) for item in items], headers, instances))

    def run(self) -> int:
        """Run what was collected, each under the trace that stored it; returns how many items ran. Once
        CC_FOLLOW_UPS_IN_PLACE_SECONDS have passed since the task started (a slow LMS, a long batch of events),
        the rest is published as it would have been, so that one message never holds its worker thread (nor
        the task's time limit) for long and the other workers take them."""
        ran = 0
        with tracing.deferred_writes():  # their traces in one write
            while self.pending:
                model, items, headers, instances = self.pending.pop(0)
                if time.monotonic() >= self.deadline:
                    durable.publish_batch(model, items, headers)
                    continue
                with durable.known_instances(instances):  # claimed without a re-read
                    _run_batch(model, items, headers, self.task_name)
                ran += len(items)
        return ran


def _run_batch(model, items: list, headers: dict, by: str) -> None:
    batch_task = import_string(model.batch_task_path)
    with tracing.joined(headers), tracing.span("task", batch_task.name) as node:
        if node is not None:
            node.result = f"in place, in {by} (ADR 0074)"
        try:
            outcome = batch_task.run(items)
        except Exception as exc:  # not an item's failure (run_batch records those): the sweep runs them again
            logger.exception("%s in place of its message failed; the sweep will run its items", batch_task.name)
            tracing.set_outcome(tracing.ERROR, f"{type(exc).__name__}: {exc}; the sweep will run its items")
            return
        if node is not None:
            node.result = f"in place, in {by}: {tracing.short_repr(outcome)}"


def current_for(model, items: list) -> Collector | None:
    """The collector of the running task when it takes these items of `model`, else None (publish them)."""
    collector = getattr(_local, "collector", None)
    return collector if collector is not None and collector.takes(model, items) else None


@contextmanager
def in_place(task):
    """Around a task's body: what its work stores for its own queue runs here after the body (see the module).
    Off with CC_FOLLOW_UPS_IN_PLACE = False, and for an eager (in-process) run, which publishes as before."""
    request = task.request
    if not settings.CC_FOLLOW_UPS_IN_PLACE or request.id is None or getattr(request, "is_eager", False):
        yield None
        return
    collector, outer = Collector(task.name, queue_of(task.name)), getattr(_local, "collector", None)
    _local.collector = collector
    try:
        yield collector
    finally:
        _local.collector = outer
        collector.run()
