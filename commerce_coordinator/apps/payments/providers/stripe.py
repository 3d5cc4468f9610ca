"""Stripe: ``POST /payments/webhooks/stripe/``, signed with ``Stripe-Signature`` (t=...,v1=...).

The signature is checked by the ``stripe`` library (``stripe.WebhookSignature.verify_header``) against
every configured secret (STRIPE_WEBHOOK_SECRETS, for rotations), with STRIPE_WEBHOOK_TOLERANCE seconds.

    payment_intent.succeeded                  -> payment_succeeded
    payment_intent.payment_failed             -> payment_failed
    checkout.session.completed (paid)         -> payment_succeeded (payment id: the session's PaymentIntent)
    checkout.session.async_payment_succeeded  -> payment_succeeded
    checkout.session.async_payment_failed     -> payment_failed
    charge.refunded                           -> payment_refunded (after the payment's own event was processed;
                                                 full_refund when the charge is refunded in all)

The order is named in the object's metadata: order_number, lms_user_id (or lms_username), course_run_keys
(comma-separated). An event without them (another payment on the same Stripe account) is acknowledged and
stored as unroutable with the missing field as its reason. A Charge's metadata may lack them: the refund
then takes the order and the learner from the payment. Amounts are integers in the currency's smallest
unit: zero-decimal currencies (JPY, KRW, VND, ...) and three-decimal ones (KWD, BHD, JOD, OMR, TND) included.
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
    Unroutable,
    as_amount,
    as_course_run_keys,
    as_currency,
    as_lms_user,
    as_text,
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
    "checkout.session.completed": "payment_succeeded",
    "checkout.session.async_payment_succeeded": "payment_succeeded",
    "checkout.session.async_payment_failed": "payment_failed",
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

    def map_event(self, event_type: str, payload: dict, overrides: dict | None = None) -> Mapped | None:
        signal = SIGNALS.get(event_type)
        if signal is None:
            return None
        obj = dig(payload, "data.object")
        if not isinstance(obj, dict):
            raise MissingField("data.object", "must be an object")
        if isinstance(obj.get("metadata"), dict) and obj["metadata"].get("charge_key"):
            from ..charges import stripe_webhook_answer  # a charge of a saved method (payments/charges.py)

            return stripe_webhook_answer(event_type, obj)
        overrides = overrides or {}
        currency = as_currency(dig(obj, "currency", required=False) or "", "data.object.currency")
        if signal == "payment_refunded":
            return self._refund(payload, obj, currency, overrides)
        if event_type.startswith("checkout.session."):
            return self._session(signal, obj, currency, overrides)
        amount_field = "amount_received" if signal == "payment_succeeded" else "amount"
        payment_id = as_text(dig(obj, "id", prefix="data.object."), "data.object.id", 255)
        return self._payment(signal, obj, amount_field, payment_id, currency, overrides)

    def payment_id_of(self, event_type: str, payload: dict) -> str:
        obj = dig(payload, "data.object", required=False)
        if not isinstance(obj, dict):
            return ""
        if event_type.startswith("payment_intent."):
            return _id_of(obj.get("id"))[:255]
        return _id_of(obj.get("payment_intent"))[:255]

    def _payment(self, signal, obj, amount_field, payment_id, currency, overrides) -> Mapped:
        kwargs = {
            **self._order(obj, overrides),
            "amount": major_units(
                dig(obj, amount_field, prefix="data.object."), currency, f"data.object.{amount_field}"
            ),
            "currency": currency,
            "provider": self.key,
            "payment_id": payment_id,
        }
        if signal == "payment_failed":
            error = obj.get("last_payment_error") if isinstance(obj.get("last_payment_error"), dict) else {}
            reason = error.get("message") or error.get("code") or error.get("decline_code") or "unknown"
            kwargs["reason"] = str(reason)[:500]
        return Mapped(signal, kwargs)

    def _session(self, signal, session, currency, overrides) -> Mapped:
        """A Checkout Session pays with its PaymentIntent: the payment id is the intent's, so a refund of its
        charge finds it, and the order number is the same as the intent's (the LMS fulfils an order once)."""
        payment_id = _id_of(session.get("payment_intent")) or as_text(session.get("id"), "data.object.id", 255)
        status = session.get("payment_status")
        if signal == "payment_succeeded" and status != "paid":
            return Mapped("", note=f"checkout session payment_status {status!r}: waits for its payment")
        mapped = self._payment(signal, session, "amount_total", payment_id, currency, overrides)
        if signal == "payment_failed":
            mapped.kwargs["reason"] = "the checkout session's delayed payment failed"
        return mapped

    def _order(self, obj: dict, overrides: dict) -> dict:
        metadata = {**(obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}), **overrides}
        prefix = "data.object.metadata."
        keys = metadata.get("course_run_keys")
        order_number = as_text(dig(metadata, "order_number", required=False) or "", prefix + "order_number")
        user = as_lms_user(metadata.get("lms_user_id"), prefix + "lms_user_id", metadata.get("lms_username"))
        if keys is None:
            raise MissingField(prefix + "course_run_keys")
        course_run_keys = as_course_run_keys(keys, prefix + "course_run_keys")
        if not course_run_keys:
            raise MissingField(prefix + "course_run_keys", "names no course run")
        return {"order_number": order_number, **user, "course_run_keys": course_run_keys}

    def _refund(self, event: dict, charge: dict, currency: str, overrides: dict) -> Mapped:
        """A refund's amount is what *this* event refunded; it is full when the charge is refunded in all.

        Its order fields come from the charge's metadata, else from the payment (INHERITED_FROM_PAYMENT);
        its course runs are those the refund (or the charge) names, else none.
        """
        payment_intent = _id_of(overrides.get("payment_intent", charge.get("payment_intent")))
        if not payment_intent:
            raise Unroutable(
                "field 'data.object.payment_intent' is null: a charge made without a PaymentIntent "
                "(Charges API), so it names no payment of this service"
            )
        metadata = {**(charge.get("metadata") if isinstance(charge.get("metadata"), dict) else {}), **overrides}
        latest = _latest_refund(charge)
        prefix = "data.object."
        total_refunded = dig(charge, "amount_refunded", prefix=prefix)
        refunded_now = total_refunded
        previous = dig(event, "data.previous_attributes.amount_refunded", required=False)
        if isinstance(previous, int) and not isinstance(previous, bool):
            refunded_now = total_refunded - previous if isinstance(total_refunded, int) else total_refunded
        elif latest is not None and isinstance(latest.get("amount"), int):
            refunded_now = latest["amount"]
        amount = charge.get("amount")
        full = charge.get("refunded") is True or (isinstance(amount, int) and total_refunded == amount)
        keys = (latest or {}).get("metadata", {}).get("course_run_keys") or metadata.get("course_run_keys")
        order = {"order_number": None, "lms_user_id": None, "lms_username": None}
        if metadata.get("order_number"):
            order["order_number"] = as_text(metadata["order_number"], prefix + "metadata.order_number")
        if metadata.get("lms_user_id") or metadata.get("lms_username"):
            order.update(
                as_lms_user(metadata.get("lms_user_id"), prefix + "metadata.lms_user_id", metadata.get("lms_username"))
            )
        kwargs = {
            **order,
            "course_run_keys": as_course_run_keys(keys, prefix + "metadata.course_run_keys") if keys else [],
            "amount": major_units(refunded_now, currency, prefix + "amount_refunded"),
            "currency": currency,
            "provider": self.key,
            "payment_id": as_text(payment_intent, prefix + "payment_intent", 255),
            "full_refund": full,
        }
        return Mapped("payment_refunded", kwargs, requires_payment=True)


def _id_of(value) -> str:
    """An id, or the id of an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _latest_refund(charge: dict) -> dict | None:
    """The newest refund of a charge when the event carries them (charge.refunds.data, newest first)."""
    refunds = charge.get("refunds")
    data = refunds.get("data") if isinstance(refunds, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return None


def _timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
