"""The overdue ladder (INVOICING_DUNNING_LADDER): levels by days since the earliest unpaid invoice fell due.

Evaluated after every payment outcome (a durable step: a Notice stored with the answer, notify.py) and
daily. Entering a level is one conditional UPDATE of the account (from the level it was read in), and its
account_overdue is a Notice unique per (account, earliest invoice, level), so each is sent once; the last
level ends the ladder by making the invoices that reached it uncollectible. When nothing is overdue any
more, the level is reset and account_cleared is sent (once per stay in a level).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from . import clock, notify
from .models import Account, Invoice, InvoiceState
from .states import StaleInvoice, transition


def ladder() -> list[dict]:
    return sorted(settings.INVOICING_DUNNING_LADDER, key=lambda rung: rung["days"])


def evaluate_after(charge) -> None:
    """A charge answer was recorded: evaluate its account's ladder, as a durable step stored with the answer."""
    notify.store_many([evaluation_after(charge)])


def evaluation_after(charge) -> tuple:
    """The durable step `evaluate_after` stores, for notify.store_many (a chunk's answers store theirs together)."""
    return ("evaluate_dunning", f"dunning:{charge.idempotency_key}:{charge.status}", charge.invoice.account_id,
            charge.invoice.number or "", {})  # fmt: skip


def evaluate(account_id: int, actor: str = "dunning") -> dict:
    """Bring one account's dunning level and its invoices' overdue flags up to date with the clock."""
    today = clock.today()
    with transaction.atomic():
        account = Account.objects.get(pk=account_id)
        overdue = list(
            Invoice.objects.filter(account_id=account_id, state__in=Invoice.UNPAID, due_date__lt=today).order_by(
                "due_date", "id"
            )
        )
        for invoice in overdue:
            if invoice.state == InvoiceState.OPEN and not invoice.payment_overdue:
                _move(invoice, "overdue", f"due {invoice.due_date}, unpaid", actor, payment_overdue=True)
        if not overdue:
            return _clear(account)
        earliest = overdue[0]
        days = (today - earliest.due_date).days
        entered = _climb(account, earliest, days)
        _end_of_ladder(overdue, today, actor)
    return {"account": account_id, "level": account.dunning_level, "days_overdue": days, "entered": entered}


def idle_accounts(account_ids: set[int]) -> set[int]:
    """Those of the accounts that evaluate() would leave as they are: nothing unpaid is past due and no dunning
    level is to be cleared (two SELECTs for all of them; a chunk's evaluations after its payments)."""
    today = clock.today()
    busy = set(
        Invoice.objects.filter(account_id__in=account_ids, state__in=Invoice.UNPAID, due_date__lt=today).values_list(
            "account_id", flat=True
        )
    )
    busy |= set(Account.objects.filter(pk__in=account_ids).exclude(dunning_level="").values_list("pk", flat=True))
    return set(account_ids) - busy


def _climb(account: Account, earliest: Invoice, days: int) -> list[str]:
    rungs = ladder()
    levels = [rung["level"] for rung in rungs]
    current = levels.index(account.dunning_level) if account.dunning_level in levels else -1
    entered = []
    for rung in rungs[current + 1 :]:
        if days < rung["days"]:
            break
        since = clock.now()
        won = Account.objects.filter(pk=account.pk, dunning_level=account.dunning_level).update(
            dunning_level=rung["level"], dunning_since=since
        )
        if not won:  # evaluated concurrently: that run sends the signals
            break
        account.dunning_level, account.dunning_since = rung["level"], since
        entered.append(rung["level"])
        # Once per level and earliest invoice: the level is left only when nothing is overdue, and this
        # invoice cannot be the earliest unpaid one again after it is paid or voided.
        arguments = {"account": account.as_data(), "level": rung["level"], "invoice": earliest.as_data(),
                     "days_overdue": days}  # fmt: skip
        notify.store("account_overdue", f"account_overdue:{account.pk}:{earliest.pk}:{rung['level']}", account.pk,
                     earliest.number or "", arguments)  # fmt: skip
    return entered


def _end_of_ladder(overdue: list[Invoice], today, actor: str) -> None:
    final = [rung for rung in ladder() if rung.get("uncollectible")]
    if not final:
        return
    rung = final[0]
    for invoice in overdue:
        if invoice.state == InvoiceState.OPEN and (today - invoice.due_date).days >= rung["days"]:
            _move(invoice, "uncollectible", f"dunning {rung['level']}: {rung['days']} days overdue", actor)


def _clear(account: Account) -> dict:
    if not account.dunning_level:
        return {"account": account.pk, "level": "", "days_overdue": 0, "entered": []}
    won = Account.objects.filter(pk=account.pk, dunning_level=account.dunning_level).update(
        dunning_level="", dunning_since=None
    )
    if won:  # once per level left: (level, since) names the stay in it
        since = account.dunning_since.isoformat() if account.dunning_since else ""
        cause = f"account_cleared:{account.pk}:{account.dunning_level}:{since}"
        account.dunning_level, account.dunning_since = "", None
        notify.store("account_cleared", cause, account.pk, "", {"account": account.as_data()})
    return {"account": account.pk, "level": "", "days_overdue": 0, "cleared": bool(won)}


def _move(invoice: Invoice, action: str, reason: str, actor: str, **fields) -> None:
    try:
        transition(invoice, action, reason=reason, actor=actor, **fields)
    except StaleInvoice:  # moved meanwhile (paid, say); the next evaluation sees it as it is
        pass


def accounts_to_evaluate():
    """Accounts with something overdue, or in a dunning level (which may now clear)."""
    today = clock.today()
    overdue = Invoice.objects.filter(state__in=Invoice.UNPAID, due_date__lt=today).values("account_id")
    return Account.objects.filter(pk__in=overdue) | Account.objects.exclude(dunning_level="")


def evaluate_all() -> dict:
    results = [evaluate(account_id) for account_id in accounts_to_evaluate().values_list("pk", flat=True)]
    return {"evaluated": len(results), "entered": sum(len(r.get("entered", [])) for r in results)}
