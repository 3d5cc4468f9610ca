"""Stripe: ``POST /payments/webhooks/stripe/``, signed with ``Stripe-Signature`` (t=...,v1=...).

The signature is checked by the ``stripe`` library (``stripe.WebhookSignature.verify_header``) against
every configured secret (STRIPE_WEBHOOK_SECRETS, for rotations), with STRIPE_WEBHOOK_TOLERANCE seconds.

    payment_intent.succeeded       -> payment_succeeded
    payment_intent.payment_failed  -> payment_failed
    charge.refunded                -> payment_refunded (after the PaymentIntent's own event was processed)

The order is named in the PaymentIntent's metadata: order_number, lms_user_id, course_run_keys
(comma-separated). A Charge's metadata may lack them: the refund then takes them from the payment.
"""

from __future__ import annotations

import time
from decimal import Decimal

import stripe
from django.conf import settings

from . import (
    IncomingEvent,
    Mapped,
    MissingField,
    MissingSignature,
    NotConfigured,
    PaymentProvider,
    SignatureError,
    StaleTimestamp,
    as_amount,
    as_course_run_keys,
    as_currency,
    as_text,
    as_user_id,
    dig,
    load_json,
    secrets_from,
)

# https://docs.stripe.com/currencies#zero-decimal and the three-decimal ones
ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}

SIGNALS = {
    "payment_intent.succeeded": "payment_succeeded",
    "payment_intent.payment_failed": "payment_failed",
    "charge.refunded": "payment_refunded",
}


def major_units(minor, currency: str, field_name: str) -> Decimal:
    """Stripe amounts are integers in the currency's smallest unit."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MissingField(field_name, "must be an integer amount in the smallest currency unit")
    exponent = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    return as_amount(Decimal(minor).scaleb(-exponent), field_name)


class StripeProvider(PaymentProvider):
    signature_header = "HTTP_STRIPE_SIGNATURE"

    def secrets(self) -> list[str]:
        return secrets_from(getattr(settings, "STRIPE_WEBHOOK_SECRETS", []))

    def verify(self, request, body: bytes) -> None:
        header = request.META.get(self.signature_header, "")
        if not header:
            raise MissingSignature("the Stripe-Signature header is missing")
        secrets = self.secrets()
        if not secrets:
            raise NotConfigured("no Stripe webhook secret is configured (STRIPE_WEBHOOK_SECRET)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureError("the body is not UTF-8, so it cannot carry a valid Stripe signature") from None
        tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
        last_error = "no matching signature"
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(text, header, secret, tolerance=tolerance)
            except stripe.SignatureVerificationError as exc:
                last_error = str(exc).split(". ")[0]
                if "tolerance" in last_error:
                    raise StaleTimestamp(f"the Stripe-Signature timestamp is older than {tolerance} s") from None
                continue
            # The library checks only the past; a timestamp far in the future is as suspect.
            timestamp = _timestamp(header)
            if timestamp > time.time() + tolerance:
                raise StaleTimestamp(f"the Stripe-Signature timestamp is more than {tolerance} s in the future")
            return
        raise SignatureError(f"the Stripe-Signature header does not verify: {last_error}")

    def parse(self, request, body: bytes, kind: str | None) -> IncomingEvent:
        payload = load_json(body)
        event_id = as_text(dig(payload, "id"), "id", 255)
        event_type = as_text(dig(payload, "type"), "type", 100)
        return IncomingEvent(event_id, event_type, payload, raw_json=body.decode("utf-8"))

    def map_event(self, event_type: str, payload: dict) -> Mapped | None:
        signal = SIGNALS.get(event_type)
        if signal is None:
            return None
        obj = dig(payload, "data.object")
        if not isinstance(obj, dict):
            raise MissingField("data.object", "must be an object")
        if isinstance(obj.get("metadata"), dict) and obj["metadata"].get("charge_key"):
            from ..charges import stripe_webhook_answer  # a charge of a saved method (payments/charges.py)

            return stripe_webhook_answer(event_type, obj)
        currency = as_currency(dig(obj, "currency", required=False) or "", "data.object.currency")
        if signal == "payment_refunded":
            return self._refund(obj, currency)
        order = self._order(obj, required=True)
        amount_field = "amount_received" if signal == "payment_succeeded" else "amount"
        kwargs = {
            **order,
            "amount": major_units(
                dig(obj, amount_field, prefix="data.object."), currency, f"data.object.{amount_field}"
            ),
            "currency": currency,
            "provider": self.key,
            "payment_id": as_text(dig(obj, "id", prefix="data.object."), "data.object.id", 255),
        }
        if signal == "payment_failed":
            error = obj.get("last_payment_error") if isinstance(obj.get("last_payment_error"), dict) else {}
            reason = error.get("message") or error.get("code") or error.get("decline_code") or "unknown"
            kwargs["reason"] = str(reason)[:500]
        return Mapped(signal, kwargs)

    def _order(self, obj: dict, required: bool) -> dict:
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if not required and not metadata.get("order_number"):
            return {"order_number": None, "lms_user_id": None, "course_run_keys": None}
        prefix = "data.object.metadata."
        keys = metadata.get("course_run_keys")
        if keys is None:
            raise MissingField(prefix + "course_run_keys")
        return {
            "order_number": as_text(dig(metadata, "order_number", required=False) or "", prefix + "order_number"),
            "lms_user_id": as_user_id(dig(metadata, "lms_user_id", required=False), prefix + "lms_user_id"),
            "course_run_keys": as_course_run_keys(keys, prefix + "course_run_keys"),
        }

    def _refund(self, charge: dict, currency: str) -> Mapped:
        payment_intent = charge.get("payment_intent")
        if isinstance(payment_intent, dict):  # expanded
            payment_intent = payment_intent.get("id")
        kwargs = {
            **self._order(charge, required=False),
            "amount": major_units(
                dig(charge, "amount_refunded", prefix="data.object."), currency, "data.object.amount_refunded"
            ),
            "currency": currency,
            "provider": self.key,
            "payment_id": as_text(payment_intent or "", "data.object.payment_intent", 255),
        }
        return Mapped("payment_refunded", kwargs, requires_payment=True)


def _timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
