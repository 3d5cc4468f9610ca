"""CloudPayments: ``POST /payments/webhooks/cloudpayments/<kind>/`` for the pay, fail and refund notifications.

Signed with ``Content-HMAC``: base64(HMAC-SHA256(CLOUDPAYMENTS_API_SECRET, raw body)). ``X-Content-HMAC``
is accepted too, computed either over the raw body or (as the gateway documents it) over the
URL-decoded body. Bodies are form-encoded (the gateway's default) or JSON. The answer is ``{"code": 0}``.

    pay    -> payment_succeeded   TransactionId is the payment id
    fail   -> payment_failed      Reason / ReasonCode give the reason
    refund -> payment_refunded    PaymentTransactionId names the payment; applied after it was processed

``InvoiceId`` is the order number, ``AccountId`` the LMS user id, and course runs come from ``Data``
(a JSON object, or a JSON string in form bodies) under ``course_run_keys`` when present.
The event id is ``<kind>:<TransactionId>``: one transaction id never stands for two notifications.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, unquote_plus

from django.conf import settings

from . import (
    IncomingEvent,
    MalformedBody,
    Mapped,
    MissingField,
    MissingSignature,
    NotConfigured,
    PaymentProvider,
    SignatureError,
    WebhookError,
    as_amount,
    as_course_run_keys,
    as_currency,
    as_text,
    as_user_id,
    check_storable,
    load_json,
    secrets_from,
)

SIGNALS = {"pay": "payment_succeeded", "fail": "payment_failed", "refund": "payment_refunded"}


def sign(body: bytes, secret: str) -> str:
    """The Content-HMAC header value for a body (also what tests and the README use)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


class CloudPaymentsProvider(PaymentProvider):
    kinds = ("pay", "fail", "refund")

    def secrets(self) -> list[str]:
        return secrets_from(getattr(settings, "CLOUDPAYMENTS_API_SECRETS", []))

    def verify(self, request, body: bytes) -> None:
        given = [
            h for h in (request.META.get("HTTP_CONTENT_HMAC", ""), request.META.get("HTTP_X_CONTENT_HMAC", "")) if h
        ]
        if not given:
            raise MissingSignature("the Content-HMAC (or X-Content-HMAC) header is missing")
        secrets = self.secrets()
        if not secrets:
            raise NotConfigured("no CloudPayments API secret is configured (CLOUDPAYMENTS_API_SECRET)")
        bodies = [body]
        try:
            decoded = unquote_plus(body.decode("utf-8"), errors="strict").encode("utf-8")
            if decoded != body:
                bodies.append(decoded)
        except UnicodeError:
            pass
        for secret in secrets:
            for candidate in bodies:
                expected = sign(candidate, secret)
                if any(hmac.compare_digest(expected.encode(), h.strip().encode("utf-8", "replace")) for h in given):
                    return
        raise SignatureError("the Content-HMAC header does not match the body")

    def parse(self, request, body: bytes, kind: str | None) -> IncomingEvent:
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type == "application/json" or body.lstrip()[:1] == b"{":
            payload = load_json(body)
        else:
            payload = _load_form(body)
        transaction_id = as_text(payload.get("TransactionId"), "TransactionId", 200)
        return IncomingEvent(f"{kind}:{transaction_id}", kind, payload)

    def map_event(self, event_type: str, payload: dict) -> Mapped | None:
        signal = SIGNALS.get(event_type)
        if signal is None:
            return None
        refund = signal == "payment_refunded"
        data = _data(payload.get("Data"))
        keys = data.get("course_run_keys", data.get("CourseRunKeys"))
        currency = payload.get("Currency")
        kwargs = {
            "order_number": _optional(refund, payload, "InvoiceId", lambda v: as_text(v, "InvoiceId")),
            "lms_user_id": _optional(refund, payload, "AccountId", lambda v: as_user_id(v, "AccountId")),
            "course_run_keys": (
                None
                if refund and keys is None
                else as_course_run_keys(keys if keys is not None else [], "Data.course_run_keys")
            ),
            "amount": as_amount(payload.get("Amount"), "Amount")
            if payload.get("Amount") not in (None, "")
            else _missing("Amount"),
            "currency": (None if refund and not currency else as_currency(currency or "", "Currency")),
            "provider": self.key,
            "payment_id": as_text(
                payload.get("PaymentTransactionId" if refund else "TransactionId"),
                "PaymentTransactionId" if refund else "TransactionId",
                255,
            ),
        }
        if signal == "payment_failed":
            reason = payload.get("Reason") or payload.get("ReasonCode") or "unknown"
            kwargs["reason"] = str(reason)[:500]
        return Mapped(signal, kwargs, requires_payment=refund)

    def acknowledge(self, event_id: str, status: str, duplicate: bool) -> dict:
        return {"code": 0}

    def error_body(self, error: WebhookError) -> dict:
        return {"code": 13, "error": error.code, "detail": error.detail}


def _load_form(body: bytes) -> dict:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=500
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedBody(f"body is neither JSON nor form data: {exc}") from None
    payload = dict(pairs)
    check_storable(payload)
    return payload


def _data(value) -> dict:
    """``Data`` is a JSON object, or a string holding one; anything else counts as absent."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise MissingField("Data", "is not valid JSON") from None
    return value if isinstance(value, dict) else {}


def _optional(may_be_missing: bool, payload: dict, name: str, convert):
    value = payload.get(name)
    if value in (None, "") and may_be_missing:
        return None
    if value in (None, ""):
        raise MissingField(name)
    return convert(value)


def _missing(name: str):
    raise MissingField(name)
