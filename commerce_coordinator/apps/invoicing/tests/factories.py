"""Small builders for invoicing tests."""

import datetime as dt
from decimal import Decimal

from commerce_coordinator.apps.invoicing import billing, clock
from commerce_coordinator.apps.invoicing.models import Account, Invoice, Product

PERIOD = dt.date(2026, 12, 1)
CARDS = {
    "ok": ("stripe", "pm_card_visa"),
    "soft": ("stripe", "pm_card_visa_chargeDeclinedInsufficientFunds"),
    "hard": ("stripe", "pm_card_visa_chargeDeclinedLostCard"),
    "down": ("stripe", "pm_card_demo_gatewayError"),
    "hang": ("stripe", "pm_card_demo_hang"),
    "cp_ok": ("cloudpayments", "tk_demo_success"),
    "cp_soft": ("cloudpayments", "tk_demo_insufficient_funds"),
    "cp_hard": ("cloudpayments", "tk_demo_lost_card"),
    "cp_down": ("cloudpayments", "tk_demo_gateway_error"),
    # Charged fine; a refund then fails (Stripe: answered `failed`; CloudPayments: refused) or meets a 500.
    "refund_fails": ("stripe", "pm_card_refundFail"),
    "refund_down": ("stripe", "pm_card_demo_refundError"),
    "cp_refund_fails": ("cloudpayments", "tk_demo_refund_fails"),
    "cp_refund_down": ("cloudpayments", "tk_demo_refund_error"),
    "none": ("", ""),
}


def account(card="ok", lms_user_id=9001, products=1, price="10.00", **fields) -> Account:
    provider, token = CARDS[card]
    made = Account.objects.create(
        lms_user_id=lms_user_id,
        email=f"learner{lms_user_id}@example.invalid",
        payment_provider=provider,
        payment_token=token,
        currency="RUB" if provider == "cloudpayments" else "USD",
        **fields,
    )
    for n in range(products):
        Product.objects.create(
            account=made, name=f"plan {n}", price=Decimal(price), starts_on=PERIOD, quota=100, used=40,
            initial_steps=100, extra_steps=0, step_price=Decimal("0.50"),
        )  # fmt: skip
    return made


def scope(**fields) -> billing.Scope:
    return billing.Scope(**{"period_start": PERIOD, **fields})


def draft(acct: Account) -> Invoice:
    billing.create_invoices(scope(account_ids=[acct.pk]))
    return Invoice.objects.get(account=acct, period_start=PERIOD)


def in_period(days: int = 2):
    """The clock inside PERIOD (a test's billing day)."""
    return clock.at(dt.datetime(PERIOD.year, PERIOD.month, days, 12, tzinfo=dt.UTC))


def start_clock_in_period(day: int = 2) -> None:
    """Set the clock to PERIOD's `day` (tests then move it on with clock.move)."""
    clock.reset()
    target = dt.datetime(PERIOD.year, PERIOD.month, day, 12, tzinfo=dt.UTC)
    clock.move(seconds=(target - clock.now()).total_seconds())


def paid(card="ok", **fields) -> Invoice:
    """An invoice of PERIOD charged through the demo gateway (the `gateway` fixture) and paid."""
    acct = account(card, **fields)
    draft(acct)
    billing.dispatch_invoices(scope(account_ids=[acct.pk]))
    invoice = Invoice.objects.get(account=acct, period_start=PERIOD)
    assert invoice.state == "paid", (invoice.state, invoice.last_error)
    return invoice
