"""The provider-plugin interface and its registry (settings.CC_PAYMENT_PROVIDERS).

A provider module defines a subclass of ``PaymentProvider``; a settings entry names it:

    CC_PAYMENT_PROVIDERS = {"stripe": "commerce_coordinator.apps.payments.providers.stripe.StripeProvider"}

Its webhook is then ``POST /payments/webhooks/<key>/`` (or ``/payments/webhooks/<key>/<kind>/`` when the
provider declares ``kinds``). The inbox, the processing task, the sweep, replays and the admin are shared.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


class WebhookError(Exception):
    """Bad input: answered with a 4xx JSON error that names the problem; nothing is stored."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class SignatureError(WebhookError):
    status = 400
    code = "bad_signature"


class MissingSignature(SignatureError):
    code = "missing_signature"


class StaleTimestamp(SignatureError):
    code = "stale_timestamp"


class MalformedBody(WebhookError):
    code = "malformed_body"


class BodyTooLarge(WebhookError):
    status = 413
    code = "body_too_large"


class MissingField(WebhookError):
    code = "missing_field"

    def __init__(self, field_name: str, problem: str = "is missing"):
        super().__init__(f"field {field_name!r} {problem}")
        self.field = field_name


class NotConfigured(WebhookError):
    status = 503
    code = "not_configured"


@dataclass
class IncomingEvent:
    """What a verified request says: the provider's event id and type, and the parsed payload."""

    event_id: str
    type: str
    payload: dict
    #: the body's JSON text when the body *is* the payload (stored as is: no re-serialisation)
    raw_json: str | None = None


@dataclass
class Mapped:
    """The coordinator signal an event becomes, with its keyword arguments.

    ``requires_payment``: the event (a refund) is applied only after the payment it refers to
    (same provider, ``payment_id``) was processed; arguments left None are then taken from that payment.
    """

    signal: str
    kwargs: dict = field(default_factory=dict)
    requires_payment: bool = False


# Fields a refund may leave None, to be filled from the payment's own event.
INHERITED_FROM_PAYMENT = ("order_number", "lms_user_id", "course_run_keys", "currency")


class PaymentProvider:
    """One payment provider's webhook: how to verify it, read it and map it to a coordinator signal."""

    #: URL kinds (``/payments/webhooks/<key>/<kind>/``); None: the provider has a single URL.
    kinds: tuple[str, ...] | None = None

    def __init__(self, key: str):
        self.key = key

    def verify(self, request, body: bytes) -> None:
        """Raise a SignatureError unless the request is signed by the provider."""
        raise NotImplementedError

    def parse(self, request, body: bytes, kind: str | None) -> IncomingEvent:
        """Read a verified body; raise MalformedBody or MissingField."""
        raise NotImplementedError

    def map_event(self, event_type: str, payload: dict) -> Mapped | None:
        """The signal this event becomes (None: a type the service does not handle); raise MissingField."""
        raise NotImplementedError

    def acknowledge(self, event_id: str, status: str, duplicate: bool) -> dict:
        return {"status": "duplicate" if duplicate else status, "event_id": event_id}

    def error_body(self, error: WebhookError) -> dict:
        return {"error": error.code, "detail": error.detail}


def configured_providers() -> dict[str, str]:
    return dict(getattr(settings, "CC_PAYMENT_PROVIDERS", {}))


@lru_cache(maxsize=32)
def _provider(key: str, path: str) -> PaymentProvider:
    return import_string(path)(key)  # providers keep no per-request state: one instance per (key, class)


def get_provider(key: str) -> PaymentProvider:
    """The provider registered under ``key``; KeyError when none is."""
    return _provider(key, getattr(settings, "CC_PAYMENT_PROVIDERS", {})[key])


def secrets_from(*values) -> list[str]:
    """Secrets from settings values: a list, or a comma-separated string; blanks dropped, order kept."""
    found: list[str] = []
    for value in values:
        items = value if isinstance(value, list | tuple) else str(value or "").split(",")
        for item in items:
            item = str(item).strip()
            if item and item not in found:
                found.append(item)
    return found


# --- helpers for provider modules ----------------------------------------------------------------

MAX_JSON_DEPTH = 64  # MySQL refuses JSON documents deeper than 100


def load_json(body: bytes, what: str = "body") -> dict:
    """Parse a JSON object; MalformedBody on anything else (or on what a JSON column cannot store)."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedBody(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedBody(f"{what} must be a JSON object, not {type(data).__name__}")
    check_storable(data, what)
    return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def check_storable(data, what: str = "body") -> None:
    """Refuse what a JSON column cannot store: too deep, or strings that are not valid Unicode."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedBody(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for k, v in value.items():
                _check_text(k, what)
                stack.append((v, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            _check_text(value, what)
        elif isinstance(value, float) and not math.isfinite(value):
            raise MalformedBody(f"{what} has a number out of range")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody(f"{what} has a string that is not valid Unicode (lone surrogate)") from None
    if "\x00" in text:
        raise MalformedBody(f"{what} has a NUL character in a string")


def dig(payload: dict, path: str, *, required: bool = True, prefix: str = ""):
    """The value at a dotted path of nested dicts; MissingField (naming prefix + path) when absent."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or value.get(part) in (None, ""):
            if required:
                raise MissingField(prefix + path)
            return None
        value = value[part]
    return value


def as_text(value, field_name: str, max_length: int = 128) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MissingField(field_name, "must be a string")
    text = str(value).strip()
    if not text:
        raise MissingField(field_name)
    if len(text) > max_length:
        raise MissingField(field_name, f"is longer than {max_length} characters")
    return text


def as_user_id(value, field_name: str) -> int:
    if value is None or value == "":
        raise MissingField(field_name)
    if isinstance(value, bool):
        raise MissingField(field_name, "must be an integer")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise MissingField(field_name, "must be an integer") from None
    if not 0 < number < 2**63:
        raise MissingField(field_name, "must be a positive integer")
    return number


def as_course_run_keys(value, field_name: str) -> list:
    """A list of course run keys from a list or a comma-separated string."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise MissingField(field_name, "must be a list or a comma-separated string")
    keys = []
    for item in items:
        if not isinstance(item, str):
            raise MissingField(field_name, "must hold strings")
        item = item.strip()
        if item:
            keys.append(item[:255])
    return keys


def as_amount(value, field_name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MissingField(field_name, "must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise MissingField(field_name, "must be a number") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        raise MissingField(field_name, "must be a non-negative amount below 10^12")
    return amount


def as_currency(value, field_name: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not (3 <= len(text) <= 8 and text.isascii() and text.isalpha()):
        raise MissingField(field_name, "must be a currency code such as USD")
    return text.upper()
