"""invoicing's outbox: the signals it owes (and the dunning evaluations), as durable work items (Notice).

A notice is stored in the transaction of the transition that causes it, under a unique cause (the
invoice's event seq, the charge attempt's answer, the account's dunning step), so each is sent once per
transition. When that transaction commits, the process that stored it claims the notices it stored
(one UPDATE for all of them) and sends each in a traced work span under the trace that caused it;
a process that dies after the commit leaves them pending, and core's generic sweep hands them to
`tasks.send_notice`. A receiver's failure rolls back what the send wrote and is retried on
INVOICING_NOTICE_RETRY_SCHEDULE (core's policy) by that task, then dead-lettered for an operator.
"""

from __future__ import annotations

import threading
import uuid

from django.db import transaction

from commerce_coordinator.apps.core import durable, retries, tracing
from commerce_coordinator.apps.core.bulk import insert_rows
from commerce_coordinator.apps.core.signals import ERROR

from . import clock
from .models import Notice
from .signals import account_cleared, account_overdue, credit_card_error, invoice_sent

SIGNALS = {
    Notice.Kind.INVOICE_SENT: invoice_sent,
    Notice.Kind.CREDIT_CARD_ERROR: credit_card_error,
    Notice.Kind.ACCOUNT_OVERDUE: account_overdue,
    Notice.Kind.ACCOUNT_CLEARED: account_cleared,
}

_stored = threading.local()  # (claim token, trace parent, sampled) of the notices this thread stored


def invoice_keys(invoice) -> dict:
    return {"invoice_number": invoice.number or "", "account_id": invoice.account_id}


def invoice_notice(kind: str, cause, /, **arguments) -> None:
    """A notice caused by the invoice `cause`'s last transition (its chain's seq names the cause)."""
    store_many([invoice_notice_of(kind, cause, **arguments)])


def invoice_notice_of(kind: str, cause, /, **arguments) -> tuple:
    """The notice `invoice_notice` stores, for store_many: (kind, cause, account id, invoice number, arguments)."""
    return kind, f"{kind}:{cause.pk}:e{cause.version}", cause.account_id, cause.number or "", arguments


def store(kind: str, cause: str, account_id: int, invoice_number: str, arguments: dict) -> None:
    """Store a notice in the current transaction (a repeated cause is a no-op) and flush it on commit."""
    store_many([(kind, cause, account_id, invoice_number, arguments)])


def store_many(notices: list[tuple]) -> None:
    """Store notices [(kind, cause, account id, invoice number, arguments), ...] in the current transaction with
    one INSERT (a repeated cause is a no-op), each under its own claim token, and flush them on commit."""
    if not notices:
        return
    ctx = tracing.current()
    trace_id, parent = (ctx.trace_id, ctx.parent_id) if ctx is not None else ("", None)
    sampled = ctx.sampled if ctx else None
    now = clock.now()
    rows = [
        {"kind": kind, "cause": cause[:190], "account_id": account_id, "invoice_number": invoice_number[:32],
         "arguments": arguments, "claim_token": uuid.uuid4().hex}
        for kind, cause, account_id, invoice_number, arguments in notices
    ]  # fmt: skip
    # A repeated cause is ignored (no row under this token: the flush finds nothing to send for it).
    fixed = {"trace_id": trace_id, "next_attempt_at": now}  # created_at, updated_at: their defaults (the real time)
    insert_rows(Notice, fixed, rows, ignore=True)
    if not hasattr(_stored, "queue"):
        _stored.queue = []
    _stored.queue.extend((row["claim_token"], parent, sampled) for row in rows)
    transaction.on_commit(flush, robust=True)


def flush() -> int:
    """Send the notices this thread stored and whose transactions committed (the first of their on-commit
    hooks sends them all; the others find nothing). Returns how many were sent here."""
    queued, _stored.queue = getattr(_stored, "queue", []), []
    if not queued:
        return 0
    where = {token: (parent, sampled) for token, parent, sampled in queued}
    claimed = []
    for start in range(0, len(queued), 500):
        claimed += durable.claim_many(Notice, [token for token, _, _ in queued[start : start + 500]])
    quiet = _quiet_evaluations(claimed)
    with tracing.deferred_writes():  # the notices' traces in one write
        for notice in claimed:
            parent, sampled = where[notice.claim_token]
            with tracing.trace(trace_id=notice.trace_id or None, sampled=sampled, parent_id=parent):
                if notice.pk in quiet:
                    with tracing.span("work", notice.work_label(), **notice.key_values()) as node:
                        if node is not None:
                            node.result = "nothing overdue, no dunning level: nothing to do"
                else:
                    durable.run_in_process(notice, send)
    return len(claimed)


def _quiet_evaluations(claimed: list[Notice]) -> set[int]:
    """The dunning evaluations among `claimed` whose account has nothing to evaluate (nothing overdue, no level:
    evaluate() would change nothing), finished together with one UPDATE (two SELECTs find them for all)."""
    from . import dunning

    evaluations = [notice for notice in claimed if notice.kind == Notice.Kind.EVALUATE_DUNNING]
    if not evaluations:
        return set()
    idle = dunning.idle_accounts({notice.account_id for notice in evaluations})
    quiet = [notice for notice in evaluations if notice.account_id in idle]
    if not quiet:
        return set()
    now = clock.now()
    mine = Notice.objects.filter(pk__in=[n.pk for n in quiet], status=durable.WorkStatus.RUNNING,
                                 claim_token__in=[n.claim_token for n in quiet])  # fmt: skip
    mine.update(status=durable.WorkStatus.DONE, finished_at=now, updated_at=now, next_attempt_at=None)
    return {notice.pk for notice in quiet}


def send(notice: Notice):
    """The work of a notice: send its signal (its receivers' writes commit with the notice's `done`, or roll
    back when one fails), or evaluate dunning."""
    if notice.kind == Notice.Kind.EVALUATE_DUNNING:
        from . import dunning  # dunning stores notices through this module

        return dunning.evaluate(notice.account_id)
    with transaction.atomic():  # the receivers' writes and the notice's `done` commit together
        result = SIGNALS[notice.kind].send("invoicing", **notice.arguments)
        errors = [r for r in result.results if r.status == ERROR]
        if errors:
            raise retries.receivers_failure(errors)
        notice.finish()
    return f"{notice.kind} sent to {len(result.results)} receiver(s)"
