"""Invoicing's side of subscriptions (a neighbour app it never imports): receivers CC_SIGNALS routes here.

A subscription is a periodic Product on its account (named "<plan> [subscription <id>]"), and each of its
periods is billed on the account's invoice of that month by the same create/dispatch functions as the
billing commands: no second way of billing (ADR 0061). Payment outcomes go back to subscriptions through
invoicing's own invoice_sent / credit_card_error; the reminder e-mail needs the owner's address, kept here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail

from . import billing, clock
from .models import Account, Invoice, InvoiceState, Product

logger = logging.getLogger(__name__)
BILLED = (InvoiceState.DRAFT, InvoiceState.ERROR)  # an invoice that still takes new lines


def product_name(plan: dict, subscription_id: int) -> str:
    return f"{plan['name']} [subscription {subscription_id}]"[:255]


def bill_subscription_periods(sender, periods, **kwargs):
    """subscription_periods_due: each period on its account's invoice (created and dispatched up to
    charges_requested). Answers {'deferred': [...], 'refused': {...}} by subscription id."""
    answer = {"deferred": [], "refused": {}}
    accounts = Account.objects.in_bulk({int(p["account_id"]) for p in periods})
    by_period = defaultdict(list)
    for entry in periods:
        why = _refusal(accounts.get(int(entry["account_id"])), entry)
        if why:
            answer["refused"][entry["subscription_id"]] = why
        else:
            by_period[clock.parse_period(entry["period"])].append(entry)
    for period_start, entries in sorted(by_period.items()):
        deferred = _register_products(period_start, entries)
        answer["deferred"] += deferred
        billed = sorted(
            {int(e["account_id"]) for e in entries if e.get("bill", True) and e["subscription_id"] not in deferred}
        )
        if billed:
            scope = billing.Scope(period_start, billed, actor="subscriptions")
            billing.create_invoices(scope)
            billing.dispatch_invoices(scope)
    return answer


def _refusal(account: Account | None, entry: dict) -> str:
    if account is None:
        return f"no billing account {entry['account_id']}"
    if account.status != Account.Status.ACTIVE:
        return f"billing account {account.pk} is {account.status}"
    if account.currency != entry["plan"]["currency"]:
        return (
            f"billing account {account.pk} is billed in {account.currency}, plan {entry['plan']['code']} in "
            + (entry["plan"]["currency"])
        )
    return ""


def _register_products(period_start, entries: list[dict]) -> list[int]:
    """Each subscription's product (created when missing). A first period whose month's invoice is already
    out cannot join it: that product starts next month and the subscription is answered as deferred."""
    names = {product_name(e["plan"], e["subscription_id"]): e for e in entries}
    existing = set(Product.objects.filter(name__in=names).values_list("account_id", "name"))
    out = set(
        Invoice.objects.filter(account_id__in={int(e["account_id"]) for e in entries}, period_start=period_start)
        .exclude(state__in=BILLED)
        .values_list("account_id", flat=True)
    )
    deferred, new = [], []
    for name, entry in names.items():
        account_id = int(entry["account_id"])
        if (account_id, name) in existing:
            continue
        starts_on = period_start
        if entry.get("first") and entry.get("bill", True) and account_id in out:
            starts_on = clock.next_period(period_start)
            deferred.append(entry["subscription_id"])
        plan = entry["plan"]
        new.append(Product(account_id=account_id, name=name, price=Decimal(plan["price"]),
                           period_months=int(plan["period_months"]), starts_on=starts_on))  # fmt: skip
    Product.objects.bulk_create(new)
    return deferred


def stop_subscription_product(sender, subscription, reason, **kwargs):
    """subscription_canceled / subscription_expired: its product is not billed again."""
    stopped = Product.objects.filter(
        account_id=subscription["account_id"], name__endswith=f"[subscription {subscription['id']}]", active=True
    ).update(active=False)
    return {"subscription": subscription["id"], "products_stopped": stopped}


def email_renewal_reminder(sender, subscription, account, renews_at, amount, **kwargs):
    """renewal_reminder_due: tell the account's owner what will be charged and when."""
    owner = Account.objects.filter(pk=account["account_id"]).values("email", "currency").first()
    if not owner or not owner["email"]:
        return {"mailed": False, "why": "the account has no e-mail address"}
    body = (
        f"Your subscription {subscription['id']} ({subscription['plan']}) renews on {renews_at}: "
        f"{amount} {owner['currency']} will be charged to your saved payment method."
    )
    send_mail(f"Your subscription renews on {renews_at}", body, settings.INVOICING_EMAIL_FROM, [owner["email"]])
    return {"mailed": True, "account_id": account["account_id"]}
