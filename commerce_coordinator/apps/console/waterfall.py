"""A trace as waterfall rows: depth-first order, depth, and a bar placed by start time and duration."""

from __future__ import annotations

from dataclasses import dataclass

from commerce_coordinator.apps.core import tracing

STATUS_LABELS = {"ok": "OK", "error": "ERROR", "retry": "RETRY", "running": "RUNNING", "queued": "QUEUED"}


@dataclass
class Row:
    node: object
    depth: int
    has_children: bool
    offset_pct: float
    width_pct: float
    attempt: int | None = None  # for a task run that was retried: which run of the task this is
    next_attempt_at: object = None  # for a retry: when the next attempt is due (or started)
    waiting: bool = False  # still moving: running, queued, or a retry whose next run has not been recorded

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.node.status, self.node.status.upper())


def trace_status(nodes) -> str:
    """The worst node's status (core's ranking: error > retry > running > queued > ok)."""
    return max((n.status for n in nodes), key=lambda s: tracing.STATUS_RANK.get(s, 0), default=tracing.OK)


def rows(nodes) -> list[Row]:
    """Depth-first rows (children by start time), with bars relative to the whole trace's span."""
    if not nodes:
        return []
    by_id = {n.id: n for n in nodes}
    children: dict[str | None, list] = {}
    for node in nodes:
        parent = node.parent_id if node.parent_id in by_id else None
        children.setdefault(parent, []).append(node)
    start = min(n.started_at for n in nodes)
    end = max(n.started_at.timestamp() + n.duration_ms / 1000 for n in nodes)
    span = max(end - start.timestamp(), 1e-6)
    attempts = _attempts(nodes)
    result: list[Row] = []

    def visit(node, depth, followed):
        offset = min((node.started_at - start).total_seconds() / span * 100, 99.6)
        width = min(max(node.duration_ms / 1000 / span * 100, 0.4), 100 - offset)
        attempt, next_run = attempts.get(node.id, (None, None))
        if node.kind == "task":
            followed = next_run is not None  # a later run of this task is recorded: its retries are settled
        waiting = node.status in (tracing.RUNNING, tracing.QUEUED) or (node.status == tracing.RETRY and not followed)
        attempt = node.attempt or attempt  # a work span says its item's attempt; else count the task's runs
        next_at = node.next_attempt_at or next_run
        kids = sorted(children.get(node.id, []), key=lambda n: n.started_at)
        result.append(Row(node, depth, bool(kids), offset, width, attempt, next_at, waiting))
        for kid in kids:
            visit(kid, depth + 1, followed)

    for root in sorted(children.get(None, []), key=lambda n: n.started_at):
        visit(root, 0, False)
    return result


def _attempts(nodes) -> dict:
    """Task runs sharing a task id are attempts of one task: number them, and give each retry its next run."""
    runs: dict[str, list] = {}
    for node in nodes:
        if node.kind == "task" and node.task_id:
            runs.setdefault(node.task_id, []).append(node)
    found = {}
    for same in runs.values():
        same.sort(key=lambda n: n.started_at)
        for index, node in enumerate(same):
            following = same[index + 1].started_at if index + 1 < len(same) else None
            found[node.id] = (index + 1, following)
    return found
