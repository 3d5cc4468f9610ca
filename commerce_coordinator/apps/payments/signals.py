"""Signals the payments app sends when a provider's webhook event is processed; CC_SIGNALS routes them.

Receivers get plain keyword arguments (and ``sender``), so they never import this app. The contract:

- ``order_number``: the order as the payment names it (Stripe metadata ``order_number``, CloudPayments
  ``InvoiceId``); a Checkout Session and its PaymentIntent name the same order, so the LMS fulfils it once.
- ``lms_user_id`` (int or None) and ``lms_username`` (str, may be ""): who bought. CloudPayments'
  ``AccountId`` is the user id when it is an integer, else the username (often an e-mail: receivers must not
  log it in clear); Stripe's metadata gives ``lms_user_id`` and/or ``lms_username``. One of them is set.
- ``course_run_keys``: a list of course run keys (for a refund: the runs it names, ``[]`` when none).
- ``amount``: a Decimal in the currency's major unit, exact (49.00 USD, 0.001 BHD, 500 JPY); for a refund,
  the amount *this* event refunded. ``currency``: upper case (ISO 4217).
- ``provider``: the provider's key in CC_PAYMENT_PROVIDERS ("stripe", "cloudpayments"); ``payment_id``:
  its id of the payment (Stripe PaymentIntent id, CloudPayments TransactionId).
- ``payment_failed`` adds ``reason`` (the provider's message); ``payment_refunded`` adds ``full_refund``:
  True when the whole payment is refunded or voided (unenroll the order), False for a partial refund
  (unenroll only ``course_run_keys``; with none, record the amount and leave enrollments as they are).
  A refund is sent only after the payment itself was processed.
"""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

PAYMENT_ARGUMENTS = {
    "order_number": str,
    "lms_user_id": int | None,
    "lms_username": str,
    "course_run_keys": list,
    "amount": Decimal,
    "currency": str,
    "provider": str,
    "payment_id": str,
}

payment_succeeded = CoordinatorSignal(dict(PAYMENT_ARGUMENTS), doc="A payment for an order succeeded.")
payment_failed = CoordinatorSignal(
    {**PAYMENT_ARGUMENTS, "reason": str}, doc="A payment for an order failed (reason: the provider's message)."
)
payment_refunded = CoordinatorSignal(
    {**PAYMENT_ARGUMENTS, "full_refund": bool},
    doc="A payment was refunded or voided (amount: refunded by this event; full_refund: the whole payment). "
    "Sent only after the payment itself was processed.",
)
subscription_changed = CoordinatorSignal(
    {
        "provider": str,
        "subscription_id": str,
        "account_id": str,
        "status": str,
        "amount": Decimal,
        "currency": str,
        "next_transaction_date": str,
    },
    doc="A provider's recurring payment (subscription) changed status (CloudPayments' recurrent notification: "
    "Active, PastDue, Cancelled, Rejected, Expired). account_id may be an e-mail: never log it in clear.",
)

SIGNALS = {
    "payment_succeeded": payment_succeeded,
    "payment_failed": payment_failed,
    "payment_refunded": payment_refunded,
    "subscription_changed": subscription_changed,
}


# --- Charges of saved payment methods (payments/charges.py), answering invoicing's charges_requested ---
# The seed's charge fields: result ("succeeded", "declined", "error"), status (the provider's),
# response_code, response_text, reject_reason, message; charge_id is the provider's id of the charge.
CHARGE_ARGUMENTS = {
    "invoice_number": str,
    "idempotency_key": str,
    "lms_user_id": int,
    "amount": Decimal,
    "currency": str,
    "provider": str,
    "charge_id": str,
    "result": str,
    "status": str,
    "response_code": str,
    "response_text": str,
    "reject_reason": str,
    "message": str,
}
charge_succeeded = CoordinatorSignal(dict(CHARGE_ARGUMENTS), doc="A charge of a saved payment method succeeded.")
charge_failed = CoordinatorSignal(
    {**CHARGE_ARGUMENTS, "decline": str},
    doc="A charge failed: decline is 'soft' (try again later), 'hard' (do not retry this method) or "
    "'error' (the provider could not be reached or refused the request; retries were spent).",
)
SIGNALS.update(charge_succeeded=charge_succeeded, charge_failed=charge_failed)  # a charge's webhook answers too
charges_answered = CoordinatorSignal(
    {"answers": list},
    doc="The answers of a chunk of charge attempts (ADR 0035), each plain data with charge_failed's arguments "
    "(CHARGE_ARGUMENTS and decline: '' for a success), sent once in the transaction that finishes the attempts. "
    "A webhook's confirmation, the reconciliation and a dead letter still answer one attempt with "
    "charge_succeeded / charge_failed.",
)


# --- Refunds of invoice payments (payments/refunds.py), answering invoicing's refund_requested ---
# refund_id: the provider's id of the refund; status: the provider's refund status ("succeeded", "failed", ...,
# "error" when the call was dead-lettered); message: why it failed ("" when it succeeded).
REFUND_ARGUMENTS = {
    "invoice_number": str,
    "idempotency_key": str,
    "amount": Decimal,
    "currency": str,
    "provider": str,
    "payment_id": str,
    "refund_id": str,
    "status": str,
    "message": str,
}
refund_succeeded = CoordinatorSignal(dict(REFUND_ARGUMENTS), doc="The provider refunded (part of) a payment.")
refund_failed = CoordinatorSignal(
    dict(REFUND_ARGUMENTS),
    doc="A refund failed: the provider refused it, or could not be reached until the retries were spent (status "
    "'error').",
)
