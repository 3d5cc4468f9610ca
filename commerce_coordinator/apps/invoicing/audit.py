"""The audit of invoices against their event chains and lines (manage.py audit_invoices)."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, Max, Min, Sum

from .models import Invoice, InvoiceEvent, InvoiceLine, InvoiceState

FROZEN = (InvoiceState.OPEN, InvoiceState.PAID, InvoiceState.UNCOLLECTIBLE, InvoiceState.VOID)


def audit(batch: int = 2000) -> dict:
    problems, checked, last = [], 0, 0
    while True:
        page = list(Invoice.objects.filter(pk__gt=last).order_by("pk").values("pk", "number", "state", "version",
                                                                                "total")[:batch])  # fmt: skip
        if not page:
            break
        ids = [row["pk"] for row in page]
        problems += _check(page, ids)
        checked += len(page)
        last = ids[-1]
    return {"checked": checked, "problems": problems}


def _check(page: list[dict], ids: list[int]) -> list[dict]:
    chains = {
        row["invoice_id"]: row
        for row in InvoiceEvent.objects.filter(invoice_id__in=ids)
        .values("invoice_id")
        .annotate(n=Count("id"), first=Min("seq"), last=Max("seq"))
    }
    last_states = dict(
        InvoiceEvent.objects.filter(invoice_id__in=ids, seq=F("invoice__version")).values_list("invoice_id", "to_state")
    )
    totals = defaultdict(
        Decimal,
        InvoiceLine.objects.filter(invoice_id__in=ids)
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values_list("invoice_id", "s"),
    )
    problems = []
    for row in page:
        label = row["number"] or f"invoice {row['pk']}"
        chain = chains.get(row["pk"])
        if chain is None:
            problems.append({"invoice": label, "problem": "no event chain"})
            continue
        if (chain["first"], chain["last"], chain["n"]) != (1, row["version"], row["version"]):
            problems.append({"invoice": label, "problem": f"chain seq 1..{row['version']} broken: {chain}"})
        elif last_states.get(row["pk"]) != row["state"]:
            problems.append(
                {"invoice": label, "problem": f"state {row['state']} but chain ends in {last_states.get(row['pk'])}"}
            )
        if row["state"] in FROZEN and totals[row["pk"]] != row["total"]:
            problems.append({"invoice": label, "problem": f"total {row['total']} but lines sum to {totals[row['pk']]}"})
    return problems
