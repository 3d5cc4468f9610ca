"""Durable work items: work that must happen exactly once despite crashes, redeliveries and outages.

An item is a row stored before it is acted on. Its Celery task claims it with one conditional
UPDATE, does the work, and finishes it, schedules a retry on core's policy (core.retries), or
dead-letters it with a reason and the owning app's failure signal. One generic sweep finds
items whose task was lost; operators re-queue items with an audit row. Apps subclass
DurableWorkItem and call `run` from their task (docs/durable-work.md, ADR 0011).

The claim rule, the same for every item: an item is taken when it is pending or retry and its
claim token is the task's id (or empty), or when it is running under that very id (the broker
redelivered the task of a killed worker: it retakes its item at once). Any other task is refused. An item
run in place by another task's worker (core.follow_ups, ADR 74) has no message of its own: the sweep takes it back.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import os
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, models, router, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from . import follow_ups, hotsql, retries, tracing
from .bulk import insert_rows, moved

logger = logging.getLogger(__name__)

MAX_ERROR = 4000


class WorkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRY = "retry", "Waiting for a retry"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (dead letter)"


CLAIMABLE = (WorkStatus.PENDING, WorkStatus.RETRY)
MOVING = (WorkStatus.PENDING, WorkStatus.RETRY, WorkStatus.RUNNING)
# The claim rule as SQL (params: pk, the claimable statuses, token, running, token): pending or retry under this
# token or none, or running under this very (non-empty) token.
CLAIM_WHERE = (
    "{pk} = %s AND (({status} IN (%s, %s) AND {claim_token} IN (%s, '')) "
    "OR ({status} = %s AND {claim_token} = %s AND {claim_token} <> ''))"
)
MINE_WHERE = "{pk} = %s AND {status} = %s AND {claim_token} = %s"  # still held by this run


class DurableWorkItem(models.Model):
    """Abstract: the fields and the state machine every durable work item shares."""

    status = models.CharField(max_length=16, choices=WorkStatus.choices, default=WorkStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    claim_token = models.CharField(
        max_length=64, blank=True, default="", help_text="The id of the task run that holds, or may take, the item."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    # What a subclass sets:
    retry_schedule_setting = "CC_RETRY_SCHEDULE"  # a list-of-seconds setting: the delays before each retry
    task_path = ""  # dotted path of the Celery task that runs one item (it calls durable.run)
    task_name = ""  # or the task's registered name
    batch_task_path = ""  # optional: a Celery task that runs several items of one message (run_batch)

    class Meta:
        abstract = True

    # --- hooks ------------------------------------------------------------------------------

    def key_values(self) -> dict:
        """Business keys of this item for its trace spans (order_number=..., invoice_number=...)."""
        return {}

    def work_label(self) -> str:
        """How traces and operators name this item's work."""
        return f"{self._meta.label_lower}:{self.pk}"

    def on_dead_letter(self, reason: str) -> None:
        """Runs when the dead letter has committed: send the owning app's failure signal here."""

    # --- the policy and the task ------------------------------------------------------------

    @classmethod
    def retry_policy(cls) -> retries.RetryPolicy:
        return retries.RetryPolicy.from_settings(cls.retry_schedule_setting)

    @classmethod
    def task(cls):
        if cls.task_path:
            return import_string(cls.task_path)
        from celery import current_app

        current_app.loader.import_default_modules()
        return current_app.tasks[cls.task_name]

    @classmethod
    def moving(cls):
        return cls._default_manager.filter(status__in=MOVING)

    # --- claim and outcomes (each one conditional UPDATE) -----------------------------------

    @classmethod
    def claim(cls, pk, token: str, **conditions):
        """Take item `pk` for the task run `token`; the item (with fresh fields) or None when not ours."""
        now = timezone.now()
        token = (token or "")[:64]
        values = {"status": WorkStatus.RUNNING, "claim_token": token, "claimed_at": now, "updated_at": now}
        if conditions:  # an app's extra conditions: the ORM's statement
            won = cls._claim_with_orm(pk, token, values, conditions)
            return hotsql.get(cls, pk) if won else None
        # The same statement as SQL text built once (core.hotsql): the hot path of every task run.
        values["trace_id"] = tracing.current_trace_id() or None
        claim = (cls, values, CLAIM_WHERE, [pk, *CLAIMABLE, token, WorkStatus.RUNNING, token])
        shape = {"increment": ("attempts",), "keep_if_null": ("trace_id",)}
        known = _known.take(cls, pk, token)
        if known is None:  # the claim and its re-read, in one round trip where the database allows
            won, item = hotsql.update_then_get(*claim, pk, **shape)
            return item if won else None
        if not hotsql.update(*claim, **shape):
            return None
        for name, value in values.items():  # what the claim wrote, on the instance as it was stored
            if value is not None or name != "trace_id":
                setattr(known, name, value)
        known.attempts += 1
        return known

    @classmethod
    def _claim_with_orm(cls, pk, token: str, values: dict, conditions: dict) -> int:
        claimable = Q(status__in=CLAIMABLE, claim_token__in=[token, ""])
        claimable |= Q(status=WorkStatus.RUNNING, claim_token=token)  # a redelivery retakes its own item
        return (
            cls._default_manager.filter(claimable, pk=pk, **conditions)
            .exclude(claim_token="", status=WorkStatus.RUNNING)
            .update(**values, attempts=F("attempts") + 1, trace_id=tracing.current_trace_id() or F("trace_id"))
        )

    def _update_mine(self, values: dict) -> bool:
        """One conditional UPDATE of `values`, only while this run still holds the item (running, its token)."""
        return hotsql.update(type(self), values, MINE_WHERE, self._mine()) == 1

    def _mine(self) -> list:
        """MINE_WHERE's parameters: this item, running under this run's token."""
        return [self.pk, WorkStatus.RUNNING, self.claim_token]

    def finish(self, **fields) -> bool:
        """Done; only while this run still holds the item. `fields`: the app's own columns to set with it."""
        return self.finish_after_reading(None, **fields)[0]

    def finish_after_reading(self, read: tuple[str, list] | None, **fields) -> tuple[bool, list]:
        """finish(), after the caller's statement `read` (SQL, params; a lock taken first) in the same round trip
        where the database allows (core.hotsql.read_then_update). (done, the rows `read` gave)."""
        now = timezone.now()
        values = {"status": WorkStatus.DONE, "finished_at": now, "updated_at": now, "next_attempt_at": None}
        values.update(fields)
        if read is None:
            rows, done = [], self._update_mine(values)
        else:
            rows, matched = hotsql.read_then_update(read, type(self), values, MINE_WHERE, self._mine())
            done = matched == 1
        if done:
            for name, value in values.items():
                setattr(self, name, value)
        return done, rows

    def retry_later(
        self, reason: str, status_code: int | None = None, retry_after: float | None = None, next_token: str = ""
    ) -> float | None:
        """Schedule the next attempt on the policy: the countdown in seconds, or None (then dead-lettered)."""
        countdown = self.retry_policy().countdown(self.attempts, retry_after)
        if countdown is None:
            self.dead_letter(f"{reason} (retries exhausted after {self.attempts} attempts)", status_code)
            return None
        now = timezone.now()
        values = {
            "status": WorkStatus.RETRY,
            "next_attempt_at": now + timedelta(seconds=countdown),
            "last_error": str(reason)[:MAX_ERROR],
            "last_status_code": status_code,
            "updated_at": now,
        }
        if next_token:
            values["claim_token"] = next_token[:64]
        if self._update_mine(values):
            for name, value in values.items():
                setattr(self, name, value)
        return countdown

    def dead_letter(self, reason: str, status_code: int | None = None, **fields) -> bool:
        """Failed for good, with the reason; the owning app's on_dead_letter runs on commit."""
        now = timezone.now()
        values = {
            "status": WorkStatus.FAILED,
            "last_error": str(reason)[:MAX_ERROR],
            "last_status_code": status_code,
            "next_attempt_at": None,
            "finished_at": now,
            "updated_at": now,
            **fields,
        }
        if not self._update_mine(values):
            return False
        for name, value in values.items():
            setattr(self, name, value)
        logger.error("%s dead-lettered after %d attempt(s): %s", self.work_label(), self.attempts, reason)
        transaction.on_commit(partial(self.on_dead_letter, str(reason)), robust=True)
        return True

    # --- finding and re-queueing ------------------------------------------------------------

    @classmethod
    def stalled(cls, now=None):
        """Items whose task was lost: due long ago and never run, or running far longer than any run may."""
        now = now or timezone.now()
        overdue = now - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER)
        dead_run = now - timedelta(seconds=settings.CC_DURABLE_RUNNING_TIMEOUT)
        return cls._default_manager.filter(
            Q(status__in=CLAIMABLE, next_attempt_at__lt=overdue)
            | Q(status__in=CLAIMABLE, next_attempt_at__isnull=True, updated_at__lt=overdue)
            | Q(status=WorkStatus.RUNNING, claimed_at__lt=dead_run)
        )

    def enqueue(self, countdown: float | None = None, only_if=None, **fields) -> str:
        """Make the item pending under a fresh claim token and publish its task when the transaction commits.

        The fresh token supersedes any earlier task of this item still in the broker. `fields`: the app's
        own columns to set in the same UPDATE. `only_if`: a queryset the item must still be in when the UPDATE
        runs (the sweep's `stalled()`: a task that took the item meanwhile keeps it); when it is not, nothing
        changes, nothing is published and "" is returned. Returns the new task id.
        """
        token = uuid.uuid4().hex
        now = timezone.now()
        values = {
            "status": WorkStatus.PENDING,
            "claim_token": token,
            "next_attempt_at": now + timedelta(seconds=countdown or 0),
            "updated_at": now,
            **fields,
        }
        if self.pk is not None:
            rows = (only_if if only_if is not None else type(self)._default_manager).filter(pk=self.pk)
            if not rows.update(**values) and only_if is not None:
                return ""
        for name, value in values.items():
            setattr(self, name, value)
        self.publish_on_commit(countdown)
        return token

    def publish_on_commit(self, countdown: float | None = None) -> None:
        """Publish this item's task (its claim token as the task id) once the transaction commits."""
        headers = _trace_headers()
        transaction.on_commit(partial(publish, type(self), self.pk, self.claim_token, headers, countdown), robust=True)

    def requeue(self, actor: str, reason: str, action: str = "retry", **fields):
        """An operator's re-queue: pending again, enqueued, and an audit row (who, what, why, trace id)."""
        from .models import WorkAudit

        if not reason or not str(reason).strip():
            raise ValueError("an operator action needs a reason")
        with tracing.span("operator", f"{action} {self.work_label()}", str(actor), **self.key_values()):
            trace_id = tracing.current_trace_id() or ""
            with transaction.atomic():
                before = self.status
                self.enqueue(last_error=self.last_error, **fields)
                audit = WorkAudit.objects.create(
                    item_type=self._meta.label_lower,
                    item_id=str(self.pk),
                    item_label=self.work_label()[:255],
                    action=action,
                    actor=str(actor)[:150],
                    reason=str(reason),
                    outcome=f"re-queued (was {before})",
                    trace_id=trace_id,
                )
        return audit


def publish(model, pk, token: str, headers: dict, countdown: float | None = None) -> None:
    """Hand an item's task to the broker; a failure is logged (the sweep publishes it again)."""
    timing = {"countdown": countdown} if countdown else {}
    _send(model, f"the task of {pk}", None, args=[pk], task_id=token, headers=headers, **timing)


def _send(model, what: str, task=None, **options) -> None:
    """`apply_async` of the item's own task (`task` None), another task or a task's dotted path; a failure is
    logged, never raised: the items stay pending and the sweep publishes each again."""
    try:
        task = model.task() if task is None else import_string(task) if isinstance(task, str) else task
        task.apply_async(**options)
    except Exception:
        logger.exception("Could not publish %s of %s; the sweep will", what, model._meta.label_lower)


def store_many(model, rows: list[dict], key: str, chunk: int = 1) -> dict[str, int]:
    """Store items once per value of their unique field `key` and queue the ones this call created.

    One multi-row INSERT with conflicts ignored (a key stored before, or by a concurrent caller, keeps its row
    and gets no second task), each row pending under a fresh claim token and stamped with the current trace;
    one SELECT tells which rows carry this call's tokens; their tasks are published when the transaction
    commits (a crash before that leaves them pending: the sweep publishes them). Returns {key value: pk} of
    the created items. The bulk form of creating an item and calling `enqueue`.

    `chunk` > 1 (a model with a `chunk_task_path`): rows are stored in chunks of that many that share one claim
    token, and each chunk is ONE task message (its id the chunk's token, its argument the chunk's pks), run by
    `run_many`. The claim rule is unchanged: each item is taken only under its own token, which a retry, the
    sweep or an operator replaces with a fresh one for the item's own task (ADR 0035).
    """
    if not rows:
        return {}
    now = timezone.now()
    chunk = max(1, chunk if getattr(model, "chunk_task_path", "") else 1)
    tokens = {}
    for start in range(0, len(rows), chunk):
        token = uuid.uuid4().hex
        tokens.update((row[key], token) for row in rows[start : start + chunk])
    fixed = {"status": WorkStatus.PENDING, "next_attempt_at": now, "created_at": now, "updated_at": now,
             "trace_id": tracing.current_trace_id() or ""}  # fmt: skip
    insert_rows(model, fixed, [{**row, "claim_token": tokens[row[key]]} for row in rows], ignore=True)
    stored = model._default_manager.filter(**{f"{key}__in": list(tokens)}).values_list(key, "pk", "claim_token")
    created = {value: pk for value, pk, token in stored if tokens.get(value) == token}
    by_token: dict[str, list] = {}
    for value, pk in created.items():
        by_token.setdefault(tokens[value], []).append(pk)
    # A chunk of one is the item's own task; a larger chunk is one message naming its items.
    publish_many_on_commit(model, [(pks[0] if len(pks) == 1 else sorted(pks), tok) for tok, pks in by_token.items()])
    return created


def _trace_headers() -> dict:
    """The current trace's headers for a task published from here (its span the task's parent)."""
    ctx = tracing.current()
    return ctx.headers(ctx.parent_id) if ctx is not None else {}


def publish_many_on_commit(model, items: list[tuple]) -> None:
    """Publish the tasks of items [(pk, claim token), ...] through one producer once the transaction commits
    (one connection and one hook for all, not one per item)."""
    if items and not _in_place(model, items):
        transaction.on_commit(partial(publish_many, model, items, _trace_headers()), robust=True)


def _in_place(model, items: list, instances=None) -> bool:
    """Hand the items to the running task's collector when it takes them (core.follow_ups, ADR 0074)."""
    if any(isinstance(pk, list) for pk, _ in items):  # chunks: their own task
        return False
    collector = follow_ups.current_for(model, items)
    if collector is None:
        return False
    transaction.on_commit(partial(collector.add, model, items, _trace_headers(), instances), robust=True)
    return True


class KnownInstances(threading.local):
    """Items this thread stored moments ago, as stored, for their claim in place (ADR 75): a claim won under the
    token an item was stored with finds it as stored (every change of what an item does gives it a new token:
    enqueue, requeue, a refund's unenrollment), so the claim's re-read is left out. Each is used once."""

    def __init__(self):
        self.items: dict = {}

    @contextmanager
    def holding(self, instances, as_read=True):
        """`instances` known inside; `as_read`: their values first converted as a read gives them (once, where
        they were stored: a batch hands them on as they are)."""
        added = {(type(obj), obj.pk, obj.claim_token): _as_read(obj) if as_read else obj for obj in instances or ()}
        self.items.update(added)
        try:
            yield
        finally:
            for key in added:
                self.items.pop(key, None)

    def take(self, model, pk, token: str):
        return self.items.pop((model, pk, token), None) if self.items else None


def _as_read(obj):
    """`obj` (and the related objects it holds) with each field's value as a read would give it ("42" -> 42)."""
    for instance in (obj, *obj._state.fields_cache.values()):
        if instance is not None:
            for field in instance._meta.concrete_fields:
                setattr(instance, field.attname, field.to_python(getattr(instance, field.attname)))
    return obj


_known = KnownInstances()
known_instances = _known.holding


def publish_many(model, items: list[tuple], headers: dict) -> None:
    """Publish the tasks of items [(pk, claim token), ...] through one producer; a failure is logged (the sweep
    publishes what was missed). An entry ([pk, ...], token) is a chunk: one message of the model's chunk task."""
    if not items:
        return
    task = model.task()
    chunk_task = import_string(model.chunk_task_path) if any(isinstance(pk, list) for pk, _ in items) else None
    if task.app.conf.task_always_eager:  # in process: nothing to connect to
        for pk, token in items:
            if isinstance(pk, list):
                _send(model, f"the chunk task of {pk}", chunk_task, args=[pk], task_id=token, headers=headers)
            else:
                publish(model, pk, token, headers)
        return
    try:
        with task.app.producer_or_acquire() as producer:
            for pk, token in items:
                try:
                    (chunk_task if isinstance(pk, list) else task).apply_async(
                        args=[pk], task_id=token, headers=headers, producer=producer
                    )
                except Exception:
                    logger.exception("Could not publish the task of %s %s; the sweep will", model._meta.label_lower, pk)
    except Exception:
        logger.exception("Could not publish %d %s task(s); the sweep will", len(items), model._meta.label_lower)


def run(model, pk, task, work):
    """The body of an item's task: claim, work inside a traced span, then finish, retry or dead-letter.

    `work(item)` does the side effect and returns what the trace node shows; it raises on failure:
    a retryable exception (core.retries) is retried on the item's policy through `task.retry`,
    anything else dead-letters the item. Returns a small dict for the task result.
    """
    token = task.request.id or ""
    item = model.claim(pk, token)
    if item is None:
        state = model._default_manager.filter(pk=pk).values_list("status", flat=True).first()
        why = "no such item" if state is None else f"not claimed: {state}, held by another task run or finished"
        tracing.add_keys(**_keys_of(model, pk))
        return {"item": pk, "skipped": why}
    # A message without trace headers (published outside any trace) joins the item's own trace.
    with tracing.trace(trace_id=None if tracing.current() is not None else (item.trace_id or None)):
        return _run_claimed(item, task, work)


def _run_claimed(item, task, work):
    pk = item.pk
    countdown = None
    with tracing.span("work", item.work_label(), **item.key_values()) as node:
        try:
            value = work(item)
        except Exception as exc:
            countdown, outcome = _failed(item, exc, node)
        else:
            if item.status == WorkStatus.RUNNING:  # the work may have finished (or ended) the item itself
                item.finish()
            outcome = {"item": pk, "status": WorkStatus.DONE, "result": tracing.jsonable(value)}
            if node is not None:
                node.result = tracing.short_repr(value)
    if countdown is not None:
        tracing.set_outcome(tracing.RETRY, item.last_error, attempt=item.attempts, next_attempt_at=item.next_attempt_at)
        # The item's policy decides how many attempts there are, never Celery's max_retries (None means the
        # task's default of 3 to Celery): allow this one more.
        retries_so_far = task.request.retries or 0
        raise task.retry(countdown=countdown, max_retries=retries_so_far + 1, exc=_RetryCause(item.last_error))
    if item.status == WorkStatus.FAILED:
        tracing.set_outcome(tracing.ERROR, item.last_error, attempt=item.attempts)
    return outcome


class _RetryCause(Exception):
    """What Celery's retry records as its reason (the item's last error)."""


def _failed(item, exc: Exception, node, tb: str = "") -> tuple[float | None, dict]:
    reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, retries.WorkError) else str(exc)
    status_code = retries.status_code_of(exc)
    countdown = None
    if retries.is_retryable(exc):
        countdown = item.retry_later(reason, status_code, retries.retry_after_of(exc))
    else:
        item.dead_letter(reason, status_code)
    if node is not None:
        if countdown is not None:
            node.outcome(tracing.RETRY, reason, attempt=item.attempts, next_attempt_at=item.next_attempt_at)
        else:
            node.fail(exc, tb or traceback.format_exc())  # the operator can unfold what raised
            node.outcome(tracing.ERROR, item.last_error or reason, attempt=item.attempts)
    logger.warning("%s attempt %d failed: %s", item.work_label(), item.attempts, reason)
    status = WorkStatus.RETRY if countdown is not None else WorkStatus.FAILED
    return countdown, {"item": item.pk, "status": status, "error": item.last_error}


def claim_many(model, tokens: list[str]) -> list:
    """Take, in one conditional UPDATE, the items that were stored under these claim tokens and are still
    claimable (an outbox flushed by the process that stored it: each keeps its own token, so the claim rule
    holds: its own task would retake it, any other task is refused). The items won, in pk order."""
    tokens = [t[:64] for t in tokens if t]
    if not tokens:
        return []
    now = timezone.now()
    model._default_manager.filter(status__in=CLAIMABLE, claim_token__in=tokens).update(
        status=WorkStatus.RUNNING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    return list(model._default_manager.filter(status=WorkStatus.RUNNING, claim_token__in=tokens).order_by("pk"))


class HandedOver(Exception):
    """A retry of an item run in process (run_in_process), handed to the item's own task."""


class _InProcess:
    """What `durable.run` sees as the task when an item runs in a process that holds its claim token (an outbox
    flushed after commit, or one message run for several items): a retry is handed to the item's own Celery
    task (a fresh claim token, the policy's countdown)."""

    def __init__(self, model, pk, token: str):
        self.model, self.pk = model, pk
        self.request = type("Request", (), {"id": token, "retries": 0})()

    def retry(self, countdown=None, exc=None, **options):
        token = uuid.uuid4().hex
        self.model._default_manager.filter(pk=self.pk, status=WorkStatus.RETRY).update(claim_token=token)
        publish(self.model, self.pk, token, _trace_headers(), countdown)
        return HandedOver(f"retry in {countdown:.1f} s as task {token}: {exc}")


def run_in_process(item, work) -> dict:
    """Run an item this process has claimed (claim_many) exactly as its task would: a traced work span,
    then finished, dead-lettered, or retried on the policy by its own task (handed over)."""
    try:
        return _run_claimed(item, _InProcess(type(item), item.pk, item.claim_token), work)
    except HandedOver as exc:
        return {"item": item.pk, "status": WorkStatus.RETRY, "handed_over": str(exc)}


# The claim rule for a chunk's task (one message for several items stored under its id, store_many(chunk=N)):
# each item is taken when it is pending or retry under this very token, or running under it (a redelivery).
CHUNK_CLAIM_WHERE = (
    "{pk} IN (%s) AND (({status} IN (%s, %s) AND {claim_token} = %s) OR ({status} = %s AND {claim_token} = %s))"
)


def claim_chunk(model, pks: list, token: str) -> list:
    """Take, in one conditional UPDATE, the items `pks` that a chunk's task run `token` may take (the claim rule
    item by item: an item whose token a retry, the sweep or an operator replaced is refused), then read them.
    The items won, in pk order."""
    token = (token or "")[:64]
    pks = sorted({int(pk) for pk in pks})
    if not token or not pks:
        return []
    now = timezone.now()
    values = {"status": WorkStatus.RUNNING, "claim_token": token, "claimed_at": now, "updated_at": now,
              "trace_id": tracing.current_trace_id() or None}  # fmt: skip
    where = CHUNK_CLAIM_WHERE.replace("IN (%s)", "IN (" + ", ".join(["%s"] * len(pks)) + ")", 1)
    won = hotsql.update(
        model, values, where, [*pks, *CLAIMABLE, token, WorkStatus.RUNNING, token],
        increment=("attempts",), keep_if_null=("trace_id",),
    )  # fmt: skip
    if not won:
        return []
    return list(model._default_manager.filter(pk__in=pks, status=WorkStatus.RUNNING, claim_token=token).order_by("pk"))


def run_many(model, pks: list, task, *, call, fields, record, work, alone=None, executor=None) -> dict:
    """The body of a chunk's task (ADR 0035): claim its items together, call for all of them at once, and record
    the answers together; each item keeps its own outcome.

    - `alone(items)`: the pks that must run as their own task would (`work(item)` through `run_in_process`).
    - `call(item)`: the side effect without the database (a provider call), for every other item concurrently on
      `executor` (a concurrent.futures executor; None: one after another); its value is the item's answer.
    - An item whose call raised is retried on its policy by its own task (a fresh token: handed over) or
      dead-lettered, exactly as `run` would; the others do not wait for it.
    - The answered items are finished in one transaction, each with `fields(item, value)` (its conditional
      UPDATE, only while this run holds it), and `record([(item, value), ...])` runs in that same transaction.
    Every item gets its own traced work node. Returns counts for the task result.
    """
    token = task.request.id or ""
    items = claim_chunk(model, pks, token)
    if not items:
        return {"items": list(pks), "skipped": "not claimed: held by other task runs or finished"}
    # A message without trace headers (published outside any trace) joins its first item's trace.
    with tracing.trace(trace_id=None if tracing.current() is not None else (items[0].trace_id or None)):
        return _run_chunk(items, call, fields, record, work, alone, executor)


def _run_chunk(items, call, fields, record, work, alone, executor) -> dict:
    counts = {"claimed": len(items), "done": 0, "retry": 0, "failed": 0, "alone": 0}
    single = set(alone(items)) if alone and items else set()
    for item in items:
        if item.pk in single:
            run_in_process(item, work)
            counts["alone"] += 1
    batch = [item for item in items if item.pk not in single]
    nodes = {item.pk: _work_node(item) for item in batch}
    if executor is None or len(batch) < 2:
        results = [_timed_call(call, item) for item in batch]
    else:
        results = list(executor.map(partial(_timed_call, call), batch))
    answered = []
    for item, value, exc, tb, ms in results:
        node = nodes[item.pk]
        if exc is None:
            answered.append((item, value))
            continue
        countdown, _ = _failed(item, exc, node, tb)
        if countdown is not None:  # its own task retries it (a fresh token); the chunk goes on
            _InProcess(type(item), item.pk, item.claim_token).retry(countdown=countdown, exc=item.last_error)
            counts["retry"] += 1
        else:
            counts["failed"] += 1
        if node is not None:
            node.finish(tracing.OK, ms)  # the outcome _failed declared wins
    try:
        with transaction.atomic():
            done = _finish_all(answered, fields)
            if done:
                record(done)
    except Exception:  # the transaction is gone (a deadlock, a lost connection): each to its own task, at once
        logger.exception("Recording %d answered item(s) of a chunk failed; handing each to its own task", len(answered))
        done, counts["handed_back"] = [], _hand_back([item for item, _ in answered])
    counts["done"] = len(done)
    if counts["failed"] or counts["retry"] or counts.get("handed_back"):  # the task's node: the worst outcome
        status = tracing.ERROR if counts["failed"] else tracing.RETRY
        tracing.set_outcome(status, f"of {len(items)} item(s): {counts}")
    for item, value, exc, _, ms in results:
        node = nodes[item.pk]
        if exc is None and node is not None:
            node.result = tracing.short_repr(value)
            node.finish(tracing.OK, ms)
    return counts


def _finish_all(answered: list, fields) -> list:
    """Finish a chunk's answered items, each with its own fields, while this run holds them: one UPDATE for all
    (an item model that overrides `finish` is finished item by item). The (item, value) pairs finished."""
    if not answered:
        return []
    model, token = type(answered[0][0]), answered[0][0].claim_token
    if model.finish is not DurableWorkItem.finish:
        return [(item, value) for item, value in answered if item.finish(**fields(item, value))]
    now = timezone.now()
    shared = {"status": WorkStatus.DONE, "finished_at": now, "updated_at": now, "next_attempt_at": None}
    rows = {item.pk: fields(item, value) for item, value in answered}
    won = hotsql.update_each(model, rows, shared, "{status} = %s AND {claim_token} = %s", [WorkStatus.RUNNING, token])
    # Fewer than all when some were taken from this run meanwhile (the sweep, after CC_DURABLE_RUNNING_TIMEOUT).
    mine = moved(model, list(rows), won, {"status": WorkStatus.DONE, "claim_token": token, "finished_at": now})
    done = []
    for item, value in answered:
        if item.pk in mine:
            for name, field_value in {**shared, **rows[item.pk]}.items():
                setattr(item, name, field_value)
            done.append((item, value))
    return done


def _hand_back(items) -> int:
    """Items this chunk's run holds but could not finish: pending again under a fresh token, each published to its
    own task now (its work is done again: for a provider call, under the same idempotency key)."""
    now, headers = timezone.now(), _trace_headers()
    handed = 0
    for item in items:
        token = uuid.uuid4().hex
        mine = type(item)._default_manager.filter(pk=item.pk, status=WorkStatus.RUNNING, claim_token=item.claim_token)
        if mine.update(status=WorkStatus.PENDING, claim_token=token, next_attempt_at=now, updated_at=now):
            publish(type(item), item.pk, token, headers)
            handed += 1
    return handed


def _work_node(item):
    """An item's work node in the chunk's trace, opened here and finished with its call's duration (the calls run
    on other threads, which record nothing)."""
    ctx = tracing.current()
    if ctx is None or not ctx.sampled:
        return None
    node = ctx.open_node("work", item.work_label())
    ctx.add_keys(node.id, item.key_values())
    return node


def _timed_call(call, item) -> tuple:
    start = time.perf_counter()
    try:
        value = call(item)
    except Exception as exc:
        return item, None, exc, traceback.format_exc(), (time.perf_counter() - start) * 1000
    return item, value, None, "", (time.perf_counter() - start) * 1000


def publish_batch_on_commit(model, items: list[tuple], instances=None) -> None:
    """Publish items [(pk, claim token), ...] as ONE message of the model's batch task (`batch_task_path`) once
    the transaction commits: one publish, one delivery and one ack for all of them instead of one each. Each
    item keeps its own claim token, so the batch claims it exactly as its own task would; one item alone is
    published as its own task. A lost publish leaves the items pending: the sweep publishes each again.
    `instances`: the items as just stored, for a run in place to claim without re-reading them."""
    if items and not _in_place(model, items, instances):
        transaction.on_commit(partial(publish_batch, model, items, _trace_headers()), robust=True)


def publish_batch(model, items: list, headers: dict) -> None:
    """Publish items [(pk, claim token), ...] now: two or more as one message of the model's batch task, one as
    its own task; a failure is logged (the sweep publishes them again)."""
    if len(items) < 2 or not model.batch_task_path:
        publish_many(model, [tuple(item) for item in items], headers)
        return
    batch = [list(item) for item in items]
    _send(model, f"a batch of {len(batch)} items", model.batch_task_path, args=[batch], headers=headers)


def run_batch(model, items: list, run_one, pool: ThreadPool | None = None) -> dict:
    """The body of a batch task (publish_batch_on_commit): each item [pk, claim token] run by `run_one(task, pk)`
    (which calls `durable.run`), with a task whose id is the item's own token: claimed by the rule of its own task
    (a redelivered batch retakes the item it was running, skips the finished ones), a retry handed to the item's
    own task, a failure recorded on its item. The batch always goes on to the next item; its trace node ends with
    the worst of its items' outcomes, never "ok" when one of them retries or failed.

    `pool` (thread_pool): the items run at the same time, the first on this thread and the others on the pool's
    free threads, where that is safe (runs_apart); an item that finds no free thread runs on this one after the
    first (never waiting for the pool: under load the worker's own threads are busy enough). Else one after
    another."""
    jobs = [partial(_run_batch_item, model, pk, token, run_one) for pk, token in items]
    if pool is not None and len(jobs) > 1 and runs_apart(model):
        results = _run_at_once(model, items, jobs, pool)
    else:
        results = [job() for job in jobs]
    outcomes, worst = {}, []
    for pk, outcome in results:
        outcomes[pk] = outcome
        status = BATCH_OUTCOMES.get(outcome.get("status")) if isinstance(outcome, dict) else None
        if status is not None:
            worst.append((tracing.STATUS_RANK[status], status, f"{model._meta.label_lower} {pk}: {outcome}"))
    if worst:
        _, status, reason = max(worst)
        tracing.set_outcome(status, f"{len(worst)} of {len(items)} item(s) not done; worst: {reason}")
    return outcomes


def _run_at_once(model, items: list, jobs: list, pool: ThreadPool) -> list:
    """The batch's first job here, the others on free threads of `pool` (else here after the first); every one
    ended before this returns, so that the batch's node and trace are written with all of its items' nodes."""
    known = [_known.take(model, pk, token) for pk, token in items]  # this thread's: handed to the item's
    on_pool = tracing.carried(_on_pool_thread)
    futures = []
    try:
        for (pk, _), job, obj in zip(items[1:], jobs[1:], known[1:], strict=True):
            futures.append(pool.try_submit(on_pool, model, pk, job, _unshared(obj)))
        results = [_with_known(jobs[0], known[0])]
        for future, job, obj in zip(futures, jobs[1:], known[1:], strict=True):
            results.append(future.result() if future is not None else _with_known(job, obj))
    finally:
        concurrent.futures.wait([future for future in futures if future is not None])
    return results


def _run_batch_item(model, pk, token, run_one) -> tuple:
    try:
        return pk, run_one(_InProcess(model, pk, token), pk)
    except HandedOver as exc:
        return pk, {"item": pk, "status": WorkStatus.RETRY, "handed_over": str(exc)}
    except Exception as exc:  # not the work's failure (durable.run records those): e.g. a lost database
        return pk, _lost_in_batch(model, pk, exc)


def _lost_in_batch(model, pk, exc: Exception) -> dict:
    logger.exception("%s %s failed in its batch; the sweep will run it again", model._meta.label_lower, pk)
    return {"item": pk, "status": WorkStatus.FAILED, "error": repr(exc)}


def _with_known(job, known):
    """A batch's job with its item as stored (known_instances), if the batch's thread knew it."""
    with _known.holding([known] if known is not None else (), as_read=False):
        return job()


def _on_pool_thread(model, pk, job, known) -> tuple:
    """A batch's job on a pool thread: its connections checked first as around a task (close_old_connections:
    one that broke or outlived CONN_MAX_AGE replaced, the others pinged on first use under CONN_HEALTH_CHECKS)."""
    try:
        close_old_connections()
        return _with_known(job, known)
    except Exception as exc:
        return pk, _lost_in_batch(model, pk, exc)


def _unshared(obj):
    """`obj` with its own copies of the related objects it holds (a line's order): threads never share one."""
    if obj is not None:
        for name, related in obj._state.fields_cache.items():
            if isinstance(related, models.Model):
                obj._state.fields_cache[name] = copy.copy(related)
    return obj


def runs_apart(model) -> bool:
    """May the items of `model` run at the same time on other threads (their own connections)? Not inside a
    transaction (the other connections would not see what it has not committed), nor on SQLite (one writer at a
    time: a reader that must become a writer fails at once)."""
    connection = transaction.get_connection(router.db_for_write(model))
    return not connection.in_atomic_block and connection.vendor != "sqlite"


class ThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor that also takes work only when one of its threads is free (try_submit)."""

    def __init__(self, size: int, name: str):
        super().__init__(max_workers=size, thread_name_prefix=name)
        self._free = threading.BoundedSemaphore(size)

    def try_submit(self, fn, *args):
        """fn(*args) on a free thread of the pool (a Future), or None when every thread is taken by try_submit or
        the pool shuts down."""
        if not self._free.acquire(blocking=False):
            return None
        try:
            future = self.submit(fn, *args)
        except RuntimeError:  # the pool or the interpreter is shutting down: the caller runs it
            self._free.release()
            return None
        future.add_done_callback(lambda _: self._free.release())
        return future


_pools: dict[tuple[str, int, int], ThreadPool] = {}
_pools_lock = threading.Lock()


def thread_pool(name: str, size: int) -> ThreadPool | None:
    """The process's pool of `size` threads named `name` (made once, kept for the process's life, as their
    database connections are), or None for a size under 2: work done one after another on the caller's thread."""
    size = int(size)
    if size < 2:
        return None
    key = (name, size, os.getpid())  # a forked child (prefork pool) makes its own: threads do not survive a fork
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ThreadPool(size, name)
        return _pools[key]


BATCH_OUTCOMES = {WorkStatus.RETRY: tracing.RETRY, WorkStatus.FAILED: tracing.ERROR}


def _keys_of(model, pk) -> dict:
    item = model._default_manager.filter(pk=pk).first()
    return item.key_values() if item is not None else {}


def item_models() -> list[type[DurableWorkItem]]:
    """Every concrete durable work item model of the installed apps."""
    return [m for m in apps.get_models() if issubclass(m, DurableWorkItem) and not m._meta.abstract]


def sweep(limit: int = 500) -> dict[str, int]:
    """Re-enqueue stalled items of every item model (a lost publish, a lost message, a killed worker)."""
    found = {}
    for model in item_models():
        taken = 0
        for item in model.stalled().order_by("pk")[:limit]:
            with transaction.atomic():  # still stalled when it is taken back: a task that claimed it keeps it
                taken += bool(item.enqueue(only_if=model.stalled()))
        if taken:
            logger.warning("sweep re-enqueued %d stalled %s item(s)", taken, model._meta.label_lower)
            found[model._meta.label_lower] = taken
    return found
