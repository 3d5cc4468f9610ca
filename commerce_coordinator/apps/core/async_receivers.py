"""The worker side of task receivers: a task run joins the trace whose id its message headers carry.

Celery's task_prerun/postrun signals fire in a worker and in eager (in-process)
mode alike, so one mechanism covers both.
"""

from __future__ import annotations

import logging
import traceback

from celery import signals as celery_signals
from django.db import close_old_connections

from . import tracing
from .signals import ERROR, OK

logger = logging.getLogger(__name__)


class TaskRun:
    """What join_trace set up for one execution of a task; kept on that execution's task.request."""

    __slots__ = ("node", "ctx", "leave", "failure")

    def __init__(self, node, ctx, leave):
        self.node, self.ctx, self.leave = node, ctx, leave
        self.failure = None


def _trace_headers(request) -> dict | None:
    headers = getattr(request, "headers", None) or {}
    trace_id = headers.get("cc_trace_id") or getattr(request, "cc_trace_id", None)
    if not trace_id:
        return None
    return {
        "trace_id": trace_id,
        "parent_id": headers.get("cc_parent_id", getattr(request, "cc_parent_id", None)),
        "sampled": bool(headers.get("cc_sampled", getattr(request, "cc_sampled", False))),
    }


def _run_of(task) -> TaskRun | None:
    return getattr(task.request, "cc_task_run", None) if task is not None else None


@celery_signals.task_prerun.connect(weak=False)
@celery_signals.task_postrun.connect(weak=False)
def drop_broken_connections(task=None, **kwargs):
    """Workers keep DB connections across tasks (CELERY_DB_REUSE_MAX); close one that had an error or outlived
    CONN_MAX_AGE, as Django does around each request, so a broken connection never serves the next task."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


@celery_signals.task_prerun.connect(weak=False)
def join_trace(task_id=None, task=None, **kwargs):
    info = _trace_headers(task.request)
    if info is None:
        return
    ctx, leave = tracing.join(info["trace_id"], info["sampled"], info["parent_id"])
    node = None
    if ctx.sampled:
        node = ctx.open_node("task", task.name, status="running", task_id=task_id)
        ctx.parent_id = node.id
    task.request.cc_task_run = TaskRun(node, ctx, leave)


@celery_signals.task_failure.connect(weak=False)
def note_failure(sender=None, task_id=None, exception=None, einfo=None, **kwargs):
    run = _run_of(sender)
    if run is not None:
        run.failure = (exception, str(einfo) if einfo else traceback.format_exc())
        logger.error("Task receiver %s (%s) failed: %r", getattr(sender, "name", "?"), task_id, exception)


@celery_signals.task_retry.connect(weak=False)
def note_retry(sender=None, reason=None, einfo=None, **kwargs):
    """A retry is not a success: the node says why the task will run again."""
    run = _run_of(sender)
    cause = getattr(reason, "exc", None) or reason  # Celery's Retry carries the exception that caused it
    if run is not None and isinstance(cause, BaseException):
        run.failure = (cause, str(einfo) if einfo else "")


@celery_signals.task_postrun.connect(weak=False)
def leave_trace(task=None, retval=None, state=None, **kwargs):
    run = _run_of(task)
    if run is None:
        return
    task.request.cc_task_run = None
    node = run.node
    if node is not None:
        status = OK if state in (None, "SUCCESS") else str(state).lower()
        if run.failure is not None:
            node.fail(*run.failure)
            status = ERROR if status in (OK, "failure") else status
        else:
            node.result = tracing.short_repr(retval)
        node.finish(status)
    run.leave()
