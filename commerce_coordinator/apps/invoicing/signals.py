"""Signals the invoicing app sends; CC_SIGNALS routes them. Every argument is plain data.

``invoice``: {number, account_id, period ("YYYY-MM"), total (decimal string), currency, status};
``owner``: {account_id, lms_user_id, email}; ``account``: owner's keys plus currency and dunning_level;
``charge``: the seed's charge fields {idempotency_key, amount, result, status, response_code,
response_text, reject_reason, message}, or None when the account has no saved payment method.
``charges`` (charges_requested): a list of charge requests, plain data each (see the signal's doc).
"""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

charges_requested = CoordinatorSignal(
    {"charges": list},
    doc="Charge saved payment methods, each once for its attempt (ADR 0034): a page of dispatch's charge requests "
    "(or one), each {invoice_number, amount (decimal string), currency, provider, payment_token, idempotency_key "
    "(names the attempt), lms_user_id}. A payments receiver stores them in the sender's transaction and answers "
    "each with charge_succeeded or charge_failed.",
)
credit_card_error = CoordinatorSignal(
    {"invoice": dict, "charge": (dict, type(None)), "owner": dict},
    doc="Charging an invoice failed (charge is None: the account has no saved payment method).",
)
invoice_sent = CoordinatorSignal(
    {"invoice": dict, "owner": dict}, doc="An invoice was sent and paid: notify its owner."
)
account_overdue = CoordinatorSignal(
    {"account": dict, "level": str, "invoice": dict, "days_overdue": int},
    doc="An account entered a level of the dunning ladder (INVOICING_DUNNING_LADDER) for its earliest unpaid invoice.",
)
account_cleared = CoordinatorSignal(
    {"account": dict}, doc="An account in dunning paid everything it owed: its dunning level is reset."
)

# Admin-panel commands over the bus (apps/bus, CC_BUS_COMMANDS): "issue_invoice", "cancel_invoice".
invoice_issue_requested = CoordinatorSignal(
    {"account_id": int, "period": str, "message_id": str},
    doc="The admin panel asks for an account's invoice of a period (YYYY-MM): created, finalized and charged.",
)
invoice_cancel_requested = CoordinatorSignal(
    {"invoice_number": str, "reason": str, "message_id": str},
    doc="The admin panel cancels (voids) an open or uncollectible invoice that nothing was paid on.",
)

# Refunds of paid invoices (invoicing/refunds.py, ADR 63): the admin panel's "refund" command, then the request to
# payments, which answers with refund_succeeded / refund_failed (plain data: this app never imports payments).
invoice_refund_requested = CoordinatorSignal(
    {"invoice_number": str, "amount": (Decimal, type(None)), "reason": str, "message_id": str},
    doc="The admin panel refunds a paid invoice: `amount` of it, or (None, or left out of the message) all that "
    "is still refundable. An invoice that is not paid, or more than is refundable, is refused for good.",
)
refund_requested = CoordinatorSignal(
    {
        "invoice_number": str,
        "amount": Decimal,
        "currency": str,
        "provider": str,
        "payment_id": str,
        "idempotency_key": str,
        "reason": str,
        "lms_user_id": int,
    },
    doc="Refund `amount` of the provider's payment `payment_id` once for this refund (the idempotency key names it). "
    "A payments receiver answers with refund_succeeded or refund_failed.",
)
