"""The worker side of task receivers: a task run joins the trace whose id its message headers carry.

Celery's task_prerun/postrun signals fire in a worker and in eager (in-process)
mode alike, so one mechanism covers both.
"""

from __future__ import annotations

import logging
import traceback

from celery import signals as celery_signals

from . import tracing
from .signals import ERROR, OK

logger = logging.getLogger(__name__)

# task id -> (node, context, token or None, failure)
_RUNNING: dict[str, list] = {}


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


@celery_signals.task_prerun.connect(weak=False)
def join_trace(task_id=None, task=None, **kwargs):
    info = _trace_headers(task.request)
    if info is None:
        return
    ctx = tracing.current()
    token = None
    saved_parent = None
    if ctx is None or ctx.trace_id != info["trace_id"]:
        ctx, token = tracing.begin(info["trace_id"], info["sampled"], info["parent_id"])
    else:
        saved_parent = ctx.parent_id
        ctx.parent_id = info["parent_id"]
    node = None
    if ctx.sampled:
        node = ctx.open_node("task", task.name, status="running", task_id=task_id)
        ctx.parent_id = node.id
    _RUNNING[task_id] = [node, ctx, token, None, saved_parent]


@celery_signals.task_failure.connect(weak=False)
def note_failure(task_id=None, exception=None, einfo=None, **kwargs):
    state = _RUNNING.get(task_id)
    if state is not None:
        state[3] = (exception, str(einfo) if einfo else traceback.format_exc())
        logger.error("Task receiver %s failed: %r", task_id, exception)


@celery_signals.task_postrun.connect(weak=False)
def leave_trace(task_id=None, retval=None, state=None, **kwargs):
    entry = _RUNNING.pop(task_id, None)
    if entry is None:
        return
    node, ctx, token, failure, saved_parent = entry
    if node is not None:
        if failure is not None:
            node.fail(*failure)
            node.finish(ERROR)
        else:
            node.result = tracing.short_repr(retval)
            node.finish(OK if state in (None, "SUCCESS") else str(state).lower())
    if token is not None:
        tracing.end(ctx, token)
    else:
        ctx.parent_id = saved_parent
