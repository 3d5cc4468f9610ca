"""The four billing jobs (create, dispatch, restore, reset), each idempotent and resumable.

Each works in batches (INVOICING_BATCH_SIZE) chosen by what is still to do, so a re-run or a run
after a killed one simply finds less: create inserts with conflicts ignored under the unique
(account, period); dispatch moves invoices only through conditional transitions; restore and reset
write a ledger mark per product and period first. Counters go to a BillingRun row.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import CharField, Exists, Max, Min, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat, LPad

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.bulk import insert_rows

from . import charging, clock, dunning, states
from .models import (
    Account,
    BillingRun,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceState,
    Product,
    ProductPeriodMark,
)

logger = logging.getLogger(__name__)
S = InvoiceState


@dataclass
class Scope:
    """What a run covers: --period, --account, --limit, --dry-run."""

    period_start: object | None = None
    account_ids: list[int] = field(default_factory=list)
    limit: int | None = None
    dry_run: bool = False
    actor: str = "billing"
    charge: bool = True  # dispatch: False finalizes only (the next dispatch charges them: they are due)

    def accounts(self, queryset):
        return queryset.filter(account_id__in=self.account_ids) if self.account_ids else queryset


Progress = Callable[[int], None]


def _no_progress(n: int) -> None:
    pass


# --- runs -----------------------------------------------------------------------------------


def start_run(command: str, scope: Scope) -> BillingRun:
    """A BillingRun row; a run of the same command left `running` by a dead process is resumed from."""
    stale = clock.now() - timedelta(seconds=settings.INVOICING_RUN_STALE_AFTER)
    previous = (
        BillingRun.objects.filter(command=command, status=BillingRun.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=stale) | Q(pid__isnull=False))
        .order_by("-started_at")
    )
    resumed = None
    for run in previous:
        if run.heartbeat_at < stale or not _alive(run.pid):
            BillingRun.objects.filter(pk=run.pk, status=BillingRun.Status.RUNNING).update(
                status=BillingRun.Status.INTERRUPTED, finished_at=clock.now()
            )
            resumed = resumed or run
    return BillingRun.objects.create(
        command=command,
        period_start=scope.period_start,
        dry_run=scope.dry_run,
        options={"accounts": scope.account_ids, "limit": scope.limit},
        resumed_from=resumed,
        pid=os.getpid(),
        trace_id=tracing.current_trace_id() or "",
        started_at=clock.now(),
        heartbeat_at=clock.now(),
    )


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def beat(run: BillingRun, counters: dict, errors: dict) -> None:
    BillingRun.objects.filter(pk=run.pk).update(counters=counters, errors=errors, heartbeat_at=clock.now())


def finish_run(run: BillingRun, counters: dict, errors: dict) -> None:
    run.status, run.counters, run.errors, run.finished_at = BillingRun.Status.FINISHED, counters, errors, clock.now()
    BillingRun.objects.filter(pk=run.pk).update(
        status=run.status, counters=counters, errors=errors, finished_at=run.finished_at, heartbeat_at=run.finished_at
    )


def _batches(queryset, size: int, limit: int | None) -> Iterable[list]:
    """Pages of `queryset` in pk order, read window by window of ids (re-queried: what is left shrinks).

    Each query covers a bounded pk range (`pk >= lo AND pk < lo + window`), so the database scans that
    range and no more: "the next N rows after pk X" of a filtered set made MariaDB sort every remaining
    match on each page (quadratic at 100,000 invoices)."""
    bounds = queryset.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return
    window, seen, low = max(size * 4, 2000), 0, bounds["low"]
    while low <= bounds["high"] and (limit is None or seen < limit):
        rows = list(queryset.filter(pk__gte=low, pk__lt=low + window).order_by("pk"))
        low += window
        for start in range(0, len(rows), size):
            page = rows[start : start + size]
            if limit is not None:
                page = page[: limit - seen]
            if not page:
                return
            yield page
            seen += len(page)


# --- create_invoices --------------------------------------------------------------------------


def create_invoices(scope: Scope, run: BillingRun | None = None, progress: Progress = _no_progress) -> dict:
    """The period's blank invoice for every active account that has none (bulk, conflict-ignoring)."""
    period_start, period_end = clock.period_of(scope.period_start)
    token = uuid.uuid4().hex
    accounts = Account.objects.filter(status=Account.Status.ACTIVE)
    if scope.account_ids:
        accounts = accounts.filter(pk__in=scope.account_ids)
    missing = accounts.filter(~Exists(Invoice.objects.filter(account=OuterRef("pk"), period_start=period_start)))
    counters = {"created": 0, "already_present": 0, "would_create": 0}
    if scope.dry_run:
        counters["would_create"] = missing.count() if scope.limit is None else min(missing.count(), scope.limit)
    else:
        now = clock.now()
        trace_id = tracing.current_trace_id() or ""
        for page in _batches(missing.values_list("pk", "currency"), settings.INVOICING_BATCH_SIZE, scope.limit):
            with transaction.atomic():
                fixed = {"period_start": period_start, "period_end": period_end, "created_run": token,
                         "created": now, "updated": now}  # fmt: skip
                insert_rows(Invoice, fixed, [{"account_id": pk, "currency": cur} for pk, cur in page], ignore=True)
                mine = list(
                    Invoice.objects.filter(
                        created_run=token, period_start=period_start, account_id__in=[pk for pk, _ in page]
                    ).values_list("pk", flat=True)
                )
                event = states.creation_event(0, scope.actor, trace_id, now)
                fixed = {f.attname: getattr(event, f.attname) for f in InvoiceEvent._meta.concrete_fields}
                insert_rows(InvoiceEvent, fixed, [{"invoice_id": pk} for pk in mine])
            counters["created"] += len(mine)
            progress(len(page))
            if run is not None:
                beat(run, counters, {})
    present = Invoice.objects.filter(period_start=period_start, account__in=accounts)
    counters["already_present"] = present.exclude(created_run=token).count()
    counters.pop("would_create" if not scope.dry_run else "created")
    return counters


def create_invoices_baseline(period_start) -> int:
    """The straightforward way (the benchmark's baseline): get_or_create per active account."""
    period_start, period_end = clock.period_of(period_start)
    created = 0
    for account in Account.objects.filter(status=Account.Status.ACTIVE).iterator():
        _, made = Invoice.objects.get_or_create(
            account=account,
            period_start=period_start,
            defaults={"period_end": period_end, "currency": account.currency},
        )
        created += made
    return created


# --- dispatch_invoices ------------------------------------------------------------------------


def _to_finalize(scope: Scope):
    invoices = Invoice.objects.filter(state__in=[S.DRAFT, S.ERROR])
    if scope.period_start:
        invoices = invoices.filter(period_start=clock.period_of(scope.period_start)[0])
    else:
        invoices = invoices.filter(period_start__lte=clock.today())
    return scope.accounts(invoices)


def _to_charge(scope: Scope):
    invoices = Invoice.objects.filter(state=S.OPEN, charge_in_flight=False, next_attempt_at__lte=clock.now())
    if scope.period_start:
        invoices = invoices.filter(period_start=clock.period_of(scope.period_start)[0])
    return scope.accounts(invoices)


def dispatch_invoices(scope: Scope, run: BillingRun | None = None, progress: Progress = _no_progress) -> dict:
    """Populate, finalize and charge the period's drafts; retry errored ones and charges that are due."""
    counters = {"dispatched": 0, "paid": 0, "payment_failed": 0, "errors": 0, "charges": 0, "skipped": 0}
    errors: dict[str, str] = {}
    if scope.dry_run:
        return {
            **counters,
            "would_dispatch": _to_finalize(scope).count(),
            "would_charge": _to_charge(scope).count(),
        }
    touched: list[int] = []
    size = settings.INVOICING_BATCH_SIZE
    for page in _batches(_to_finalize(scope).select_related("account"), size, scope.limit):
        finalized = _finalize_page(page, scope, counters, errors)
        if scope.charge:
            _charge_page(finalized, scope, counters, errors, touched)
        progress(len(page))
        if run is not None:
            beat(run, counters, errors)
    left = None if scope.limit is None else max(scope.limit - counters["dispatched"] - counters["errors"], 0)
    for page in _batches(_to_charge(scope).select_related("account"), size, left if scope.charge else 0):
        _charge_page(page, scope, counters, errors, touched)
        progress(len(page))
        if run is not None:
            beat(run, counters, errors)
    _count_outcomes(touched, counters)
    if run is not None:
        finish_run(run, counters, errors)
    return {**counters, "error_accounts": errors}


def _products_of(page: list[Invoice]) -> dict[int, list[Product]]:
    """The active products of a page's accounts: one query for the whole page, whatever their number."""
    by_account = defaultdict(list)
    for product in Product.objects.filter(account_id__in={i.account_id for i in page}, active=True).order_by("pk"):
        by_account[product.account_id].append(product)
    return by_account


def populate_lines(invoice: Invoice, products: list[Product]) -> list[InvoiceLine]:
    lines = []
    for product in products:
        if not product.billed_in(invoice.period_start):
            continue
        lines.append(
            InvoiceLine(
                invoice=invoice,
                product=product,
                description=f"{product.name} ({invoice.period_label})",
                unit_price=product.price,
                amount=product.price,
            )
        )
        if product.extra_steps and product.step_price:
            lines.append(
                InvoiceLine(
                    invoice=invoice,
                    product=product,
                    kind=InvoiceLine.Kind.EXTRA,
                    description=f"{product.name}: {product.extra_steps} extra steps",
                    quantity=product.extra_steps,
                    unit_price=product.step_price,
                    amount=product.step_price * product.extra_steps,
                )
            )
    return lines


def finalize_steps(invoice: Invoice, lines: list[InvoiceLine], now=None) -> list[states.Step]:
    """populate then finalize (after a retry when the invoice is in error): number, totals, due date. `now`: the
    page's time (invoices finalized together share it, and so their UPDATE)."""
    total = sum((line.amount for line in lines), start=Decimal("0"))
    now = now or clock.now()
    steps = [states.Step("retry", "taken again by dispatch")] if invoice.state == S.ERROR else []
    return steps + [
        states.Step("populate", f"{len(lines)} line(s)", {"subtotal": total, "total": total}),
        states.Step(
            "finalize",
            f"total {total} {invoice.currency}",
            {
                "number": invoice_number(invoice),
                "due_date": (now + timedelta(days=settings.INVOICING_PAYMENT_TERMS_DAYS)).date(),
                "finalized_at": now,
                "next_attempt_at": now,
            },
        ),
    ]


NUMBER_DIGITS = 7


def invoice_number(invoice: Invoice):
    """`INV-YYYYMM-<id, 7 digits>`: computed by the finalize UPDATE itself (one statement for a page's invoices of
    a period and total) where the id fits the digits, else written as it is."""
    number = f"{settings.INVOICING_NUMBER_PREFIX}-{invoice.period_start:%Y%m}-{invoice.pk:0{NUMBER_DIGITS}d}"
    if invoice.pk >= 10**NUMBER_DIGITS:
        return number
    padded = LPad(Cast("id", output_field=CharField()), NUMBER_DIGITS, Value("0"))
    return states.Computed(Concat(Value(number[:-NUMBER_DIGITS]), padded, output_field=CharField()), number)


def finalize(invoice: Invoice, products: list[Product], actor: str) -> None:
    """draft (or error) -> populated draft -> open, in one transaction: lines frozen, number, due date."""
    lines = populate_lines(invoice, products)
    with transaction.atomic():
        if invoice.version > 1:  # populated before (an earlier run failed after it): start the lines afresh
            InvoiceLine.objects.filter(invoice=invoice).delete()
        if not states.transition_many([(invoice, finalize_steps(invoice, lines))], actor):
            raise states.StaleInvoice(f"invoice {invoice} changed since it was read (finalize refused)")
        InvoiceLine.objects.bulk_create(lines)


def _finalize_fresh(page: list[Invoice], products, scope: Scope, counters: dict, errors: dict) -> list[Invoice]:
    """The fast path for never-populated drafts: their conditional UPDATEs, then one INSERT of all events and
    one of all lines (a page is one transaction; the caller falls back to one invoice at a time on a DB error)."""
    chains, lines, now = [], {}, clock.now()
    for invoice in page:
        try:
            lines[invoice.pk] = populate_lines(invoice, products.get(invoice.account_id, []))
        except Exception as exc:
            _record_error(invoice, exc, scope, counters, errors)
            continue
        chains.append((invoice, finalize_steps(invoice, lines[invoice.pk], now)))
    moved = states.transition_many(chains, scope.actor)
    insert_rows(InvoiceLine, {}, [_line_row(line) for pk in moved for line in lines[pk]])
    counters["skipped"] += len(chains) - len(moved)
    counters["dispatched"] += len(moved)
    return [invoice for invoice, _ in chains if invoice.pk in moved]


LINE_FIELDS = ("invoice_id", "product_id", "kind", "description", "quantity", "unit_price", "amount")


def _line_row(line: InvoiceLine) -> dict:
    return {name: getattr(line, name) for name in LINE_FIELDS}


def _finalize_page(page: list[Invoice], scope: Scope, counters: dict, errors: dict) -> list[Invoice]:
    """Finalize a page in one transaction (one commit). Fresh drafts go in bulk; the rest (and a page whose
    bulk write failed) one by one, each in a savepoint, so that a failing account rolls back only its own
    work and is recorded as `error` for the next dispatch."""
    products = _products_of(page)
    with tracing.span("work", f"invoicing.finalize {len(page)} invoice(s)", scope.actor):
        fresh = [i for i in page if i.state == S.DRAFT and i.version == 1]
        try:
            with transaction.atomic():
                before = dict(counters), dict(errors)
                finalized = _finalize_fresh(fresh, products, scope, counters, errors)
        except DatabaseError:
            logger.exception("The bulk finalize of a page failed; finalizing its invoices one by one")
            counters.update(before[0])
            errors.clear(), errors.update(before[1])
            finalized, fresh = [], []
            page = list(Invoice.objects.select_related("account").filter(pk__in=[i.pk for i in page]).order_by("pk"))
        taken = {invoice.pk for invoice in fresh}  # a set: `invoice in list` compared models pairwise (n^2)
        with transaction.atomic():
            for invoice in page:
                if invoice.pk in taken or invoice.state not in (S.DRAFT, S.ERROR):
                    continue
                try:
                    finalize(invoice, products.get(invoice.account_id, []), scope.actor)
                except states.StaleInvoice:
                    counters["skipped"] += 1  # another run took it first
                except Exception as exc:
                    logger.exception("Could not finalize invoice %s of account %s", invoice.pk, invoice.account_id)
                    _record_error(invoice, exc, scope, counters, errors)
                else:
                    counters["dispatched"] += 1
                    finalized.append(invoice)
    return finalized


def _record_error(invoice: Invoice, exc: Exception, scope: Scope, counters: dict, errors: dict) -> None:
    counters["errors"] += 1
    errors[str(invoice.account_id)] = f"{type(exc).__name__}: {exc}"[:500]
    fresh = Invoice.objects.filter(pk=invoice.pk).first()
    if fresh is not None and fresh.state == S.DRAFT:
        try:
            states.transition(fresh, "error", reason=errors[str(invoice.account_id)], actor=scope.actor,
                              last_error=errors[str(invoice.account_id)])  # fmt: skip
        except states.StaleInvoice:
            pass


def _charge_page(page: list[Invoice], scope: Scope, counters: dict, errors: dict, touched: list[int]) -> None:
    """Request a page's charges at once (ADR 0034): one transaction, one trace, one charges_requested. When that
    fails the page is taken again one invoice at a time, each in a savepoint, so that a failing account rolls
    back only its own request. The attempts' tasks are published (in the embedded default run) on commit."""
    touched.extend(invoice.pk for invoice in page)
    with tracing.span("work", f"invoicing.charge {len(page)} invoice(s)", scope.actor):
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint: a failure rolls back the page's requests, not the page
                    charges = _request_page(page, scope)
            except Exception:
                logger.exception("The charge requests of a page of %d invoice(s) failed; one by one", len(page))
                fresh = Invoice.objects.select_related("account").filter(pk__in=[i.pk for i in page]).order_by("pk")
                for invoice in fresh:
                    _charge_one(invoice, scope, counters, errors)
                return
    counters["charges"] += sum(charge is not None for charge in charges.values())
    counters["skipped"] += len(page) - len(charges)


def _request_page(page: list[Invoice], scope: Scope) -> dict:
    """The page's invoices with nothing to pay are paid at once; the others' charges requested together."""
    free = [(invoice, [states.Step("pay", "nothing to pay", {"paid_at": clock.now(), "next_attempt_at": None})])
            for invoice in page if not invoice.total]  # fmt: skip
    paid = states.transition_many(free, scope.actor)
    charges = charging.request_charges([invoice for invoice in page if invoice.total], scope.actor)
    return {**dict.fromkeys(paid), **charges}


def _charge_one(invoice: Invoice, scope: Scope, counters: dict, errors: dict) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here rolls back this invoice's request only
            if invoice.state != S.OPEN or invoice.charge_in_flight:
                counters["skipped"] += 1  # another run took it first
                return
            charges = _request_page([invoice], scope)
        counters["charges"] += sum(charge is not None for charge in charges.values())
        counters["skipped"] += 1 - len(charges)
    except Exception as exc:
        logger.exception("Could not request the charge of invoice %s", invoice)
        counters["errors"] += 1
        errors[str(invoice.account_id)] = f"{type(exc).__name__}: {exc}"[:500]


def _count_outcomes(touched: list[int], counters: dict) -> None:
    """Paid and failed among what this run touched (in-process charges have answered by now)."""
    for start in range(0, len(touched), 1000):
        chunk = touched[start : start + 1000]
        counters["paid"] += Invoice.objects.filter(pk__in=chunk, state=S.PAID).count()
        counters["payment_failed"] += Invoice.objects.filter(
            pk__in=chunk, state__in=Invoice.UNPAID, charge_in_flight=False
        ).count()


# --- restore_products / reset_products ----------------------------------------------------------


def mark_products(kind: str, scope: Scope, progress: Progress = _no_progress) -> dict:
    """Once per product and period: restore its quota (used = 0) or reset its capacity (extra steps = 0)."""
    period_start = clock.period_of(scope.period_start)[0]
    token = uuid.uuid4().hex
    products = Product.objects.filter(active=True).exclude(
        Exists(ProductPeriodMark.objects.filter(product=OuterRef("pk"), period_start=period_start, kind=kind))
    )
    if scope.account_ids:
        products = products.filter(account_id__in=scope.account_ids)
    waiting = 0
    if kind == ProductPeriodMark.Kind.RESET:  # extra steps are reset only once the period's invoice billed them
        billed = Invoice.objects.filter(
            account=OuterRef("account_id"),
            period_start=period_start,
            state__in=[S.OPEN, S.PAID, S.UNCOLLECTIBLE, S.VOID],
        )
        waiting = products.exclude(Exists(billed)).count()
        products = products.filter(Exists(billed))
    done_key = "restored" if kind == ProductPeriodMark.Kind.RESTORE else "reset"
    counters = {done_key: 0, "already_done": 0, "waiting_for_dispatch": waiting}
    if scope.dry_run:
        counters[f"would_{done_key.rstrip('d')}"] = products.count()
    else:
        for page in _batches(products.only("pk", "period_months", "starts_on", "active"), 1000, scope.limit):
            due = [p.pk for p in page if kind == ProductPeriodMark.Kind.RESET or p.billed_in(period_start)]
            counters[done_key] += _mark(due, period_start, kind, token)
            progress(len(page))
    counters["already_done"] = (
        ProductPeriodMark.objects.filter(period_start=period_start, kind=kind).exclude(run_token=token).count()
    )
    return counters


def _mark(product_ids: list[int], period_start, kind: str, token: str) -> int:
    with transaction.atomic():
        ProductPeriodMark.objects.bulk_create(
            [
                ProductPeriodMark(product_id=pk, period_start=period_start, kind=kind, run_token=token)
                for pk in product_ids
            ],
            ignore_conflicts=True,
        )
        mine = ProductPeriodMark.objects.filter(
            product_id__in=product_ids, period_start=period_start, kind=kind, run_token=token
        ).values("product_id")
        change = {"used": 0} if kind == ProductPeriodMark.Kind.RESTORE else {"extra_steps": 0}
        return Product.objects.filter(pk__in=mine).update(**change)


def evaluate_dunning() -> dict:
    return dunning.evaluate_all()
