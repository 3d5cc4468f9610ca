"""Receivers that CC_SIGNALS may name; they take the signals' declared arguments as keywords.

The charge answers come from the payments app, which this app never imports:
    charge_succeeded / charge_failed(invoice_number, idempotency_key, lms_user_id, amount, currency, provider,
                                     charge_id, result, status, response_code, response_text, reject_reason,
                                     message[, decline])
    charges_answered(answers): a list of charge_failed's arguments (decline "" for a success), one per attempt
and so do the refund answers (invoicing/refunds.py):
    refund_succeeded / refund_failed(invoice_number, idempotency_key, amount, currency, provider, payment_id,
                                     refund_id, status, message)
"""

import logging

from django.conf import settings
from django.core.mail import send_mail

from commerce_coordinator.apps.core.retries import PermanentError

from . import billing, charging, clock, operations, refunds
from .models import Account, Invoice
from .states import InvalidTransition, StaleInvoice

logger = logging.getLogger(__name__)


def record_charge_succeeded(sender, idempotency_key, **answer):
    """charge_succeeded: the invoice is paid (once per attempt, whatever the redeliveries)."""
    return charging.record_answer(idempotency_key, succeeded=True, **answer)


def record_charge_failed(sender, idempotency_key, decline, **answer):
    """charge_failed: next attempt on INVOICING_RETRY_DAYS (none after a hard decline), credit_card_error."""
    return charging.record_answer(idempotency_key, succeeded=False, decline=decline, **answer)


def record_charge_answers(sender, answers, **kwargs):
    """charges_answered: a chunk's answers recorded together (ADR 0035), each exactly as its own signal would be."""
    outcomes = charging.record_answers(answers)
    return {"answers": len(answers), "recorded": sum(1 for o in outcomes.values() if "state" in o)}


def _mail(subject: str, body: str, owner: dict) -> dict:
    if not owner.get("email"):
        return {"mailed": False, "why": "the account has no e-mail address"}
    send_mail(subject, body, settings.INVOICING_EMAIL_FROM, [owner["email"]])
    return {"mailed": True, "account_id": owner["account_id"]}


def email_credit_card_error(sender, invoice, charge, owner, **kwargs):
    """credit_card_error: tell the owner the charge failed (or that no payment method is saved)."""
    if charge is None:
        why = "there is no saved payment method on your account"
    else:
        why = charge.get("message") or charge.get("response_text") or "the card was declined"
    body = (
        f"We could not charge invoice {invoice['number']} ({invoice['total']} {invoice['currency']}, "
        f"period {invoice['period']}): {why}.\nPlease update your payment method."
    )
    return _mail(f"Payment failed for invoice {invoice['number']}", body, owner)


def email_invoice_sent(sender, invoice, owner, **kwargs):
    """invoice_sent: the receipt."""
    body = f"Invoice {invoice['number']} for {invoice['period']} is paid: {invoice['total']} {invoice['currency']}."
    return _mail(f"Invoice {invoice['number']} paid", body, owner)


def email_account_overdue(sender, account, level, invoice, days_overdue, **kwargs):
    """account_overdue: a reminder at each level of the ladder."""
    body = (
        f"Invoice {invoice['number']} ({invoice['total']} {invoice['currency']}) is {days_overdue} days overdue. "
        f"Your account is now at dunning level '{level}'."
    )
    return _mail(f"Your account is overdue ({level})", body, account)


def log_account_overdue(sender, account, level, invoice, days_overdue, **kwargs):
    logger.warning("Account %s entered dunning level %s (%s days overdue)", account["account_id"], level, days_overdue)
    return {"account_id": account["account_id"], "level": level}


def log_account_cleared(sender, account, **kwargs):
    logger.info("Account %s paid what it owed: dunning cleared", account["account_id"])
    return {"account_id": account["account_id"], "cleared": True}


def issue_invoice_from_bus(sender, account_id, period, message_id, **kwargs):
    """invoice_issue_requested (bus "issue_invoice"): the account's invoice of the period, created once,
    then dispatched (finalized and charged). Runs in the consumer's transaction; a refusal is permanent."""
    try:
        start = clock.parse_period(period)
    except ValueError as exc:
        raise PermanentError(str(exc))
    if not Account.objects.filter(pk=account_id, status=Account.Status.ACTIVE).exists():
        raise PermanentError(f"no active billing account {account_id}")
    scope = billing.Scope(start, [account_id], actor=f"bus:{message_id}")
    created = billing.create_invoices(scope)
    dispatched = billing.dispatch_invoices(scope)
    return {"account_id": account_id, "period": period, "created": created["created"],
            "dispatched": dispatched["dispatched"], "charges": dispatched["charges"]}  # fmt: skip


def cancel_invoice_from_bus(sender, invoice_number, reason, message_id, **kwargs):
    """invoice_cancel_requested (bus "cancel_invoice"): void it; impossible for its state: a permanent error."""
    invoice = Invoice.objects.select_related("account").filter(number=invoice_number[:32]).first()
    if invoice is None:
        raise PermanentError(f"no invoice {invoice_number!r}")
    try:
        operations.void(invoice, f"bus:{message_id}", reason)
    except (InvalidTransition, StaleInvoice) as exc:
        raise PermanentError(str(exc))
    return {"invoice_number": invoice_number, "state": invoice.state}


def refund_invoice_from_bus(sender, invoice_number, amount, reason, message_id, **kwargs):
    """invoice_refund_requested (bus "refund"): refund a paid invoice, all of it when amount is None. Runs in the
    consumer's transaction; a refusal (not paid, more than is refundable) is a RefundRefused: a PermanentError."""
    refund = refunds.request_refund(invoice_number, amount, reason, f"bus:{message_id}")
    return {"invoice_number": invoice_number, "refund": refund.idempotency_key, "amount": str(refund.amount)}


def record_refund_succeeded(sender, idempotency_key, **answer):
    """refund_succeeded: the refund is recorded on the invoice (once per refund, whatever the redeliveries)."""
    return refunds.record_answer(idempotency_key, succeeded=True, **answer)


def record_refund_failed(sender, idempotency_key, **answer):
    """refund_failed: the refund's amount is refundable again; the chain says why it failed."""
    return refunds.record_answer(idempotency_key, succeeded=False, **answer)
