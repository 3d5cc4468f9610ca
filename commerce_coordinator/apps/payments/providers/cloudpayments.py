"""CloudPayments: ``POST /payments/webhooks/cloudpayments/<kind>/`` for its notifications.

Signed with ``Content-HMAC``: base64(HMAC-SHA256(CLOUDPAYMENTS_API_SECRET, raw body)). ``X-Content-HMAC``
is accepted too, computed either over the raw body or (as the gateway documents it) over the
URL-decoded body. Bodies are form-encoded (the gateway's default) or JSON. The answer is ``{"code": 0}``.

    check     -> (no signal)          asked before the payment: {"code": 0}, or a decline code (10 order,
                                     11 account, 12 amount, 13 other) with the reason stored and logged
    pay       -> payment_succeeded    TransactionId is the payment id; Status=Authorized (two-stage) sends
                                     nothing: the confirm notification (the capture) does
    confirm   -> payment_succeeded
    fail      -> payment_failed       Reason / ReasonCode give the reason
    refund    -> payment_refunded     PaymentTransactionId names the payment; applied after it was processed,
                                     full_refund when it refunds the payment's whole amount
    cancel    -> payment_refunded     a voided authorization (full_refund: nothing stays enrolled)
    recurrent -> subscription_changed a subscription's status changed (Id, AccountId, Status, ...)

A notification whose ``Data`` names a ``charge_key`` is about one of our token charges of a saved method
(payments/charges.py: the charge request sends it as ``JsonData``): Pay / Fail become that attempt's
charge_succeeded / charge_failed (like Stripe's payment_intent events with ``metadata.charge_key``), a check
is accepted, and a key of no attempt of ours is unroutable.

``InvoiceId`` is the order number; ``AccountId`` the LMS user id when it is an integer, else the LMS
username (often an e-mail: never logged in clear); course runs come from ``Data`` (a JSON object, or a
JSON string in form bodies) under ``course_run_keys``. A payment that names no course run is unroutable.
The event id is ``<kind>:<TransactionId>``: one transaction id never stands for two notifications.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
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
    Unroutable,
    WebhookError,
    as_amount,
    as_course_run_keys,
    as_currency,
    as_lms_user,
    as_text,
    check_storable,
    load_json,
    secrets_from,
)

SIGNALS = {
    "pay": "payment_succeeded",
    "confirm": "payment_succeeded",
    "fail": "payment_failed",
    "refund": "payment_refunded",
    "cancel": "payment_refunded",
    "recurrent": "subscription_changed",
}
# CloudPayments' answers to a check notification (developers.cloudpayments.ru, "Check").
CHECK_OK = 0
DECLINE_INVOICE, DECLINE_ACCOUNT, DECLINE_AMOUNT, DECLINE_OTHER = 10, 11, 12, 13


def sign(body: bytes, secret: str) -> str:
    """The Content-HMAC header value for a body (also what tests and the README use)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


class CloudPaymentsProvider(PaymentProvider):
    kinds = ("check", "pay", "confirm", "fail", "refund", "cancel", "recurrent")

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
        if kind == "recurrent":
            return IncomingEvent(_recurrent_event_id(payload), kind, payload)
        transaction_id = as_text(payload.get("TransactionId"), "TransactionId", 200)
        return IncomingEvent(f"{kind}:{transaction_id}", kind, payload)

    def map_event(self, event_type: str, payload: dict, overrides: dict | None = None) -> Mapped | None:
        charge_key = _data(payload.get("Data")).get("charge_key")
        if charge_key:  # a token charge of a saved method (payments/charges.py), not an order's payment
            return self._charge(event_type, payload, str(charge_key))
        signal = SIGNALS.get(event_type)
        if event_type == "check":
            return self._check(payload, overrides or {})
        if signal is None:
            return None
        payload = {**payload, **(overrides or {})}
        if event_type == "recurrent":
            return self._subscription(payload)
        refund = signal == "payment_refunded"
        kwargs = {
            **self._order(payload, required=not refund),
            "amount": as_amount(payload.get("Amount"), "Amount")
            if payload.get("Amount") not in (None, "")
            else _missing("Amount"),
            "provider": self.key,
            "payment_id": as_text(
                payload.get("PaymentTransactionId" if event_type == "refund" else "TransactionId"),
                "PaymentTransactionId" if event_type == "refund" else "TransactionId",
                255,
            ),
        }
        currency = payload.get("Currency")
        kwargs["currency"] = None if refund and not currency else as_currency(currency or "", "Currency")
        if signal == "payment_failed":
            reason = payload.get("Reason") or payload.get("ReasonCode") or "unknown"
            kwargs["reason"] = str(reason)[:500]
        if event_type == "pay" and str(payload.get("Status", "")).lower() == "authorized":
            # A two-stage payment's authorization: recorded (its fields complete a later cancel), not sent.
            return Mapped("", kwargs, note="an authorization (two-stage payment): enrolls on its confirm notification")
        if event_type == "cancel":  # a voided authorization: nothing was captured, nothing stays enrolled
            kwargs["full_refund"] = True
            return Mapped(signal, kwargs, completes_from_payment=True)
        if refund:
            kwargs["full_refund"] = None  # decided against the payment's amount (processing)
        return Mapped(signal, kwargs, requires_payment=refund)

    def _charge(self, event_type: str, payload: dict, charge_key: str) -> Mapped | None:
        """Pay / Fail of one of our token charges: that attempt's answer. A check before it is accepted;
        a key that is none of ours is recorded as unroutable (and a check of it declined)."""
        from ..charges import ChargeAttempt, cloudpayments_webhook_answer

        if not ChargeAttempt.objects.filter(idempotency_key=charge_key[:64]).exists():
            raise Unroutable(f"Data.charge_key {charge_key[:64]!r} names no charge attempt of ours", DECLINE_OTHER)
        if event_type == "check":
            return Mapped("", note=f"a check before the token charge {charge_key[:64]}: accepted")
        return cloudpayments_webhook_answer(event_type, payload, _data(payload.get("Data")))

    def _order(self, payload: dict, required: bool) -> dict:
        """The order (InvoiceId), the learner (AccountId: an LMS user id, or a username/e-mail) and the
        course runs (Data.course_run_keys); a payment must name at least one run."""
        data = _data(payload.get("Data"))
        keys = payload.get("course_run_keys", data.get("course_run_keys", data.get("CourseRunKeys")))
        order = {"order_number": None, "lms_user_id": None, "lms_username": None}
        if required or payload.get("InvoiceId") not in (None, ""):
            order["order_number"] = _declining(DECLINE_INVOICE, as_text, payload.get("InvoiceId"), "InvoiceId")
        if required or payload.get("AccountId") not in (None, ""):
            account = payload.get("AccountId")
            order.update(_declining(DECLINE_ACCOUNT, as_lms_user, account, "AccountId", payload.get("lms_username")))
        course_run_keys = as_course_run_keys(keys if keys is not None else [], "Data.course_run_keys")
        if required and not course_run_keys:
            raise MissingField("Data.course_run_keys", "names no course run", decline_code=DECLINE_OTHER)
        return {**order, "course_run_keys": course_run_keys}

    def _check(self, payload: dict, overrides: dict) -> Mapped:
        """Asked before the payment: can this service fulfil it? (Unroutable answers a decline code.)"""
        payload = {**payload, **overrides}
        self._order(payload, required=True)
        if payload.get("Amount") in (None, ""):
            raise MissingField("Amount", decline_code=DECLINE_AMOUNT)
        _declining(DECLINE_AMOUNT, as_amount, payload.get("Amount"), "Amount")
        return Mapped("", note="a check before the payment: accepted")

    def _subscription(self, payload: dict) -> Mapped:
        amount = payload.get("Amount")
        kwargs = {
            "provider": self.key,
            "subscription_id": as_text(payload.get("Id"), "Id", 255),
            "account_id": as_text(payload.get("AccountId"), "AccountId", 255),
            "status": as_text(payload.get("Status"), "Status", 32),
            "amount": as_amount(amount, "Amount") if amount not in (None, "") else Decimal(0),
            "currency": as_currency(payload.get("Currency") or "", "Currency"),
            "next_transaction_date": str(payload.get("NextTransactionDate") or "")[:64],
        }
        return Mapped("subscription_changed", kwargs)

    def payment_id_of(self, event_type: str, payload: dict) -> str:
        key = "PaymentTransactionId" if event_type == "refund" else "TransactionId"
        value = payload.get(key)
        return str(value)[:255] if isinstance(value, str | int) and not isinstance(value, bool) else ""

    def acknowledge(self, event_id: str, status: str, duplicate: bool, unroutable: Unroutable | None = None) -> dict:
        """CloudPayments reads only ``code``: 0 accepts; on a check, a decline code refuses the payment."""
        if unroutable is not None and event_id.startswith("check:"):
            return {"code": unroutable.decline_code or DECLINE_OTHER}
        return {"code": CHECK_OK}

    def error_body(self, error: WebhookError) -> dict:
        return {"code": DECLINE_OTHER, "error": error.code, "detail": error.detail}


def _declining(code: int, convert, *args):
    """``convert(*args)``; a MissingField it raises declines a check with ``code``."""
    try:
        return convert(*args)
    except MissingField as exc:
        exc.decline_code = code
        raise


def _recurrent_event_id(payload: dict) -> str:
    """A subscription notification has no transaction id: its id, status and counters name one change
    (a resent notification carries the same values, so it is a repeat)."""
    parts = [
        as_text(payload.get("Id"), "Id", 100),
        str(payload.get("Status") or ""),
        str(payload.get("SuccessfulTransactionsNumber") or "0"),
        str(payload.get("FailedTransactionsNumber") or "0"),
        str(payload.get("LastTransactionDate") or ""),
    ]
    return "recurrent:" + ":".join(parts)[:240]


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


def _missing(name: str):
    raise MissingField(name)
