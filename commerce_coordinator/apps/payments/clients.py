"""Outbound calls to the payment providers' APIs: charge a saved payment method once per idempotency key.

Stripe through the `stripe` library (a PaymentIntent with off_session and confirm), CloudPayments by
token (POST /payments/tokens/charge). Each returns a ChargeAnswer for an answer (approved or declined)
and raises core's RetryableError (network, timeout, 5xx, 429) or PermanentError (any other refusal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

import requests
import stripe
from django.conf import settings

from commerce_coordinator.apps.core import retries

ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
# Declines that another attempt with the same method will not fix (Stripe decline codes, CP ReasonCodes).
STRIPE_HARD_DECLINES = {
    "lost_card", "stolen_card", "pickup_card", "fraudulent", "restricted_card", "expired_card",
    "incorrect_number", "invalid_account", "card_not_supported", "invalid_number", "revocation_of_authorization",
}  # fmt: skip
CLOUDPAYMENTS_HARD_DECLINES = {5004, 5007, 5014, 5015, 5033, 5034, 5036, 5041, 5043, 5054, 5057, 5062, 5063}


@dataclass
class ChargeAnswer:
    """The provider's answer in the seed's charge fields, plus whether (and how) it declined."""

    result: str  # "succeeded" or "declined"
    status: str = ""
    response_code: str = ""
    response_text: str = ""
    reject_reason: str = ""
    message: str = ""
    charge_id: str = ""
    decline: str = ""  # "", "soft" or "hard"

    def as_fields(self) -> dict:
        return asdict(self)


def minor_units(amount: Decimal, currency: str) -> int:
    return int(amount if currency.upper() in ZERO_DECIMAL_CURRENCIES else (amount * 100).quantize(Decimal(1)))


def _timeouts() -> tuple[float, float]:
    return settings.PAYMENTS_CHARGE_CONNECT_TIMEOUT, settings.PAYMENTS_CHARGE_READ_TIMEOUT


def stripe_client() -> stripe.StripeClient:
    """The stripe library's client on STRIPE_API_BASE (the demo gateway locally), without retries of its own."""
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,  # core's retry policy retries, on its schedule
        http_client=stripe.RequestsClient(timeout=_timeouts()),
    )


def stripe_failure(exc: stripe.error.StripeError) -> retries.WorkError:
    """A Stripe error that is no answer: retryable (network, 429, 5xx) or permanent (any other refusal)."""
    if isinstance(exc, (stripe.error.APIConnectionError, stripe.error.RateLimitError)):
        return retries.RetryableError(f"Stripe: {exc.user_message or exc}", status_code=exc.http_status)
    status = exc.http_status
    error = retries.RetryableError if status is None or status >= 500 else retries.PermanentError
    return error(f"Stripe answered {status}: {exc.user_message or exc}", status_code=status)


def cloudpayments_post(path: str, body: dict, request_id: str) -> dict:
    """POST to CloudPayments' API (HTTP Basic, X-Request-ID): its JSON answer, or core's Retryable/PermanentError."""
    secrets = settings.CLOUDPAYMENTS_API_SECRETS
    try:
        response = requests.post(
            f"{settings.CLOUDPAYMENTS_API_BASE.rstrip('/')}{path}",
            json=body,
            auth=(settings.CLOUDPAYMENTS_PUBLIC_ID, secrets[0] if secrets else ""),
            headers={"X-Request-ID": request_id},
            timeout=_timeouts(),
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise retries.RetryableError(f"CloudPayments unreachable: {type(exc).__name__}")
    if response.status_code >= 500 or response.status_code == 429:
        raise retries.RetryableError(f"CloudPayments answered {response.status_code}", status_code=response.status_code)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        raise retries.PermanentError(
            f"CloudPayments answered {response.status_code}: {response.text[:200]}", status_code=response.status_code
        )
    return data


def charge_stripe(*, token, amount, currency, idempotency_key, invoice_number, lms_user_id) -> ChargeAnswer:
    client = stripe_client()
    params = {
        "amount": minor_units(amount, currency),
        "currency": currency.lower(),
        "payment_method": token,
        "off_session": True,
        "confirm": True,
        "metadata": {"invoice_number": invoice_number, "lms_user_id": str(lms_user_id), "charge_key": idempotency_key},
    }
    try:
        intent = client.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
    except stripe.error.CardError as exc:
        error = exc.error
        code = getattr(error, "decline_code", None) or exc.code or ""
        intent = getattr(error, "payment_intent", None) or {}
        return ChargeAnswer(
            result="declined",
            status=(intent.get("status") if hasattr(intent, "get") else "") or "requires_payment_method",
            response_code=code,
            response_text=str(getattr(error, "message", "") or exc.user_message or ""),
            reject_reason=exc.code or "card_declined",
            message=exc.user_message or "",
            charge_id=str(getattr(error, "charge", "") or ""),
            decline="hard" if code in STRIPE_HARD_DECLINES else "soft",
        )
    except stripe.error.StripeError as exc:
        raise stripe_failure(exc) from None
    if intent.status != "succeeded":  # e.g. requires_action (3-D Secure): off-session cannot finish it
        return ChargeAnswer("declined", intent.status, intent.status, "needs the customer", "", "", intent.id, "soft")
    return ChargeAnswer("succeeded", intent.status, "", "", "", "", intent.id)


def charge_cloudpayments(*, token, amount, currency, idempotency_key, invoice_number, lms_user_id) -> ChargeAnswer:
    body = {
        "Amount": float(amount),
        "Currency": currency.upper(),
        "AccountId": str(lms_user_id),
        "Token": token,
        "InvoiceId": invoice_number,
        "Description": f"Invoice {invoice_number}",
    }
    data = cloudpayments_post("/payments/tokens/charge", body, idempotency_key)
    model = data.get("Model") or {}
    if data.get("Success"):
        return ChargeAnswer("succeeded", str(model.get("Status", "Completed")), "0", "", "", "",
                            str(model.get("TransactionId", "")))  # fmt: skip
    if not model:  # refused before any card operation (e.g. an unknown token)
        raise retries.PermanentError(f"CloudPayments refused the charge: {data.get('Message')}", status_code=200)
    code = int(model.get("ReasonCode") or 0)
    return ChargeAnswer(
        result="declined",
        status=str(model.get("Status", "Declined")),
        response_code=str(code),
        response_text=str(model.get("Reason", "")),
        reject_reason=str(model.get("Reason", "")),
        message=str(model.get("CardHolderMessage") or ""),
        charge_id=str(model.get("TransactionId", "")),
        decline="hard" if code in CLOUDPAYMENTS_HARD_DECLINES else "soft",
    )


CHARGERS = {"stripe": charge_stripe, "cloudpayments": charge_cloudpayments}
