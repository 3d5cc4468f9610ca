"""Signals the payments app sends when a provider's webhook event is processed; CC_SIGNALS routes them.

Receivers get plain keyword arguments (and ``sender``), so they never import this app.
``amount`` is a Decimal in the currency's major unit (e.g. 49.00 USD); ``currency`` is upper case
(ISO 4217); ``provider`` is the provider's key in CC_PAYMENT_PROVIDERS ("stripe", "cloudpayments");
``payment_id`` is the provider's id of the payment (Stripe PaymentIntent id, CloudPayments TransactionId).
"""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

PAYMENT_ARGUMENTS = {
    "order_number": str,
    "lms_user_id": int,
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
    dict(PAYMENT_ARGUMENTS),
    doc="A payment was refunded (amount: the refunded amount). Sent only after the payment itself was processed.",
)

SIGNALS = {
    "payment_succeeded": payment_succeeded,
    "payment_failed": payment_failed,
    "payment_refunded": payment_refunded,
}


# --- Charges of saved payment methods (payments/charges.py), answering invoicing's charge_requested ---
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
