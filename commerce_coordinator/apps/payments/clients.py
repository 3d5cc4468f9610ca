"""Outbound calls to the payment providers' APIs: charge a saved payment method once per idempotency key.

Stripe through the `stripe` library (a PaymentIntent with off_session and confirm), CloudPayments by
token (POST /payments/tokens/charge). Each returns a ChargeAnswer for an answer (approved or declined)
and raises core's RetryableError (network, timeout, 5xx, 429) or PermanentError (any other refusal).
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import asdict, dataclass
from decimal import Decimal

import requests
import stripe
from django.conf import settings

from commerce_coordinator.apps.core import http_sessions, retries

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


_clients = threading.local()  # this thread's stripe client, and the settings it was made for


def stripe_client() -> stripe.StripeClient:
    """The stripe library's client on STRIPE_API_BASE (the demo gateway locally), without retries of its own.

    One per thread, kept while the settings it was made from stay the same: its requests session keeps its
    connections open (a fresh client per call opened a TCP connection per charge, on both sides: ~15 % of a
    charge task's CPU, bench/invoicing.md). A requests session is not shared between threads."""
    made_for = (settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, _timeouts())
    if getattr(_clients, "made_for", None) != made_for:
        _clients.stripe = stripe.StripeClient(
            settings.STRIPE_API_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,  # core's retry policy retries, on its schedule
            http_client=stripe.RequestsClient(timeout=_timeouts(), session=_session(settings.STRIPE_API_BASE)),
        )
        _clients.made_for = made_for
    return _clients.stripe


def _session(base: str) -> requests.Session:
    """A requests session that reads the environment's proxies for `base` once (core.http_sessions; per call it was a
    tenth of a charge task's CPU in bench/invoicing). The CA bundle is the stripe library's own either way."""
    return http_sessions.read_environment_once(requests.Session(), base, ca_bundle=False)


def dropped_connection(exc: BaseException) -> bool:
    """Did the call fail because the server had closed the kept-alive connection it was sent on (the server
    closed it without any answer: http.client's RemoteDisconnected, or a reset / broken pipe)?"""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
            return True
        if isinstance(current, BaseException):
            todo += [current.__cause__, current.__context__, *(a for a in current.args if isinstance(a, BaseException))]
    return False


def stripe_failure(exc: stripe.error.StripeError) -> retries.WorkError:
    """A Stripe error that is no answer: retryable (network, 429, 5xx) or permanent (any other refusal)."""
    if isinstance(exc, (stripe.error.APIConnectionError, stripe.error.RateLimitError)):
        retry_after = _seconds((getattr(exc, "headers", None) or {}).get("Retry-After"))
        return retries.RetryableError(
            f"Stripe: {exc.user_message or exc}", status_code=exc.http_status, retry_after=retry_after
        )
    status = exc.http_status
    error = retries.RetryableError if status is None or status >= 500 else retries.PermanentError
    return error(f"Stripe answered {status}: {exc.user_message or exc}", status_code=status)


def _seconds(value) -> float | None:
    """A Retry-After header in its seconds form, or None."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def cloudpayments_post(path: str, body: dict, request_id: str = "") -> dict:
    """POST to CloudPayments' API (HTTP Basic, X-Request-ID): its JSON answer, or core's Retryable/PermanentError."""
    secrets = settings.CLOUDPAYMENTS_API_SECRETS
    try:
        response = requests.post(
            f"{settings.CLOUDPAYMENTS_API_BASE.rstrip('/')}{path}",
            json=body,
            auth=(settings.CLOUDPAYMENTS_PUBLIC_ID, secrets[0] if secrets else ""),
            headers={"X-Request-ID": request_id} if request_id else {},  # none: a lookup, never replayed
            timeout=_timeouts(),
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise retries.RetryableError(f"CloudPayments unreachable: {type(exc).__name__}")
    if response.status_code >= 500 or response.status_code == 429:
        raise retries.RetryableError(f"CloudPayments answered {response.status_code}", status_code=response.status_code,
                                     retry_after=_seconds(response.headers.get("Retry-After")))  # fmt: skip
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        raise retries.PermanentError(
            f"CloudPayments answered {response.status_code}: {response.text[:200]}", status_code=response.status_code
        )
    return data


def _create_intent(client: stripe.StripeClient, params: dict, idempotency_key: str):
    """The PaymentIntent create. A kept-alive connection the server had closed without answering: once more at
    once, on a new connection, under the same idempotency key (Stripe replays an answer it gave)."""
    options = {"idempotency_key": idempotency_key}
    try:
        return client.v1.payment_intents.create(params=params, options=options)
    except stripe.error.APIConnectionError as exc:
        if not dropped_connection(exc):
            raise
    _clients.made_for = None
    return stripe_client().v1.payment_intents.create(params=params, options=options)


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
        intent = _create_intent(client, params, idempotency_key)
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
        # Returned as `Data` in the Pay / Fail notifications: names the attempt (charges.cloudpayments_webhook_answer).
        "JsonData": {"charge_key": idempotency_key, "invoice_number": invoice_number},
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


# --- Looking up an attempt whose outcome is unknown (ADR 0033) ------------------------------------------------


def find_stripe(*, idempotency_key, invoice_number) -> ChargeAnswer | None:
    """The succeeded PaymentIntent our attempt `idempotency_key` created (its metadata names it), or None when
    Stripe has none; a PaymentIntent still processing is not an outcome yet (retryable)."""
    query = "metadata['charge_key']:'{}'".format(idempotency_key.replace("\\", "").replace("'", "\\'"))
    try:
        found = stripe_client().v1.payment_intents.search(params={"query": query, "limit": 10})
    except stripe.error.StripeError as exc:
        raise stripe_failure(exc) from None
    intents = list(found.data)
    if any(intent.status == "processing" for intent in intents):
        raise retries.RetryableError(f"Stripe: the PaymentIntent of {idempotency_key} is still processing")
    paid = [intent for intent in intents if intent.status == "succeeded"]
    return ChargeAnswer("succeeded", "succeeded", "", "", "", "", paid[0].id) if paid else None


CLOUDPAYMENTS_CHARGED = {"Completed", "Authorized"}


def _named_key(model: dict) -> str:
    """The attempt a CloudPayments transaction names in its JsonData (our charge request's), or ""."""
    data = model.get("JsonData")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return str(data.get("charge_key") or "") if isinstance(data, dict) else ""


def find_cloudpayments(*, idempotency_key, invoice_number) -> ChargeAnswer | None:
    """CloudPayments' last transaction of the invoice (POST /payments/find by InvoiceId) when it charged the
    card, or None ("Not found", or declined/cancelled). Called before any later attempt of the invoice calls
    the provider, so the last transaction is an earlier attempt's."""
    data = cloudpayments_post("/payments/find", {"InvoiceId": invoice_number})
    model = data.get("Model") or {}
    if str(model.get("Status", "")) not in CLOUDPAYMENTS_CHARGED or _named_key(model) not in ("", idempotency_key):
        return None
    return ChargeAnswer("succeeded", str(model["Status"]), "0", "", "", "", str(model.get("TransactionId", "")))


CHARGERS = {"stripe": charge_stripe, "cloudpayments": charge_cloudpayments}
FINDERS = {"stripe": find_stripe, "cloudpayments": find_cloudpayments}
