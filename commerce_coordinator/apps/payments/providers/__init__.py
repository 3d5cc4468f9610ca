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
    """A field of a verified event is missing or malformed: at receipt (an event id), a 4xx; in the
    mapping to an order, the event is unroutable (see PaymentProvider.route)."""

    code = "missing_field"

    def __init__(self, field_name: str, problem: str = "is missing", decline_code: int | None = 13):
        super().__init__(f"field {field_name!r} {problem}")
        self.field = field_name
        self.decline_code = decline_code


class NotConfigured(WebhookError):
    status = 503
    code = "not_configured"


class Unroutable(Exception):
    """A verified event this service cannot route to an order (no metadata of ours, no course runs...).

    Not a 4xx: the provider would retry it for days. It is acknowledged and stored as ``unroutable`` with
    the reason, for an operator to fix (``replay_webhook_events --id ... --set-metadata key=value``).
    ``decline_code``: what a provider that asks before a payment (CloudPayments' check) is answered.
    """

    def __init__(self, reason: str, decline_code: int | None = None, payment_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.decline_code = decline_code
        self.payment_id = payment_id  # the provider's payment id when the event has one (for operators' searches)


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
    An empty ``signal`` is an event recorded with nothing to send (``note`` says why, e.g. an authorization
    that enrolls on its capture); it is stored as ignored.
    """

    signal: str
    kwargs: dict = field(default_factory=dict)
    requires_payment: bool = False
    note: str = ""
    #: fields left None are taken from an earlier event of the same payment if there is one (no wait)
    completes_from_payment: bool = False


# Fields a refund may leave None, to be filled from the payment's own event (never the course runs:
# a refund names the runs it refunds, or none).
INHERITED_FROM_PAYMENT = ("order_number", "lms_user_id", "lms_username", "currency")


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

    def map_event(self, event_type: str, payload: dict, overrides: dict | None = None) -> Mapped | None:
        """The signal this event becomes (None: a type the service does not handle).

        Raise Unroutable (or MissingField, which counts the same) when the event names no order of this
        service. ``overrides``: order metadata an operator supplied, read over the payload's.
        """
        raise NotImplementedError

    def route(self, event_type: str, payload: dict, overrides: dict | None = None) -> Mapped | None:
        """map_event, with the rules every provider shares: a missing field or too many course runs is
        Unroutable (with the reason), never a 4xx."""
        try:
            mapped = self.map_event(event_type, payload, overrides or {})
        except MissingField as exc:
            raise Unroutable(exc.detail, exc.decline_code, self.payment_id_of(event_type, payload)) from None
        except Unroutable as exc:
            exc.payment_id = exc.payment_id or self.payment_id_of(event_type, payload)
            raise
        keys = mapped.kwargs.get("course_run_keys") if mapped is not None else None
        limit = settings.PAYMENTS_MAX_COURSE_RUNS_PER_EVENT
        if keys and len(keys) > limit:
            raise Unroutable(
                f"the event names {len(keys)} course runs, more than PAYMENTS_MAX_COURSE_RUNS_PER_EVENT ({limit})",
                decline_code=13,
                payment_id=mapped.kwargs.get("payment_id") or "",
            )
        return mapped

    def payment_id_of(self, event_type: str, payload: dict) -> str:
        """The provider's payment id in an event that could not be mapped, if it has one ("" if not)."""
        return ""

    def acknowledge(self, event_id: str, status: str, duplicate: bool, unroutable: Unroutable | None = None) -> dict:
        answer = {"status": "duplicate" if duplicate else status, "event_id": event_id}
        if unroutable is not None:
            answer["reason"] = unroutable.reason
        return answer

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


def as_lms_user(value, field_name: str, username=None) -> dict:
    """``lms_user_id`` when the value is a positive integer, else the value as ``lms_username`` (a merchant's
    account id is often an e-mail); ``username``: an explicit username that goes with it."""
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    name = "" if username is None or isinstance(username, bool) else str(username).strip()
    if not text and not name:
        raise MissingField(field_name, decline_code=11)
    if text.isdigit() and text.isascii():
        return {"lms_user_id": as_user_id(text, field_name), "lms_username": name[:150]}
    if len(text or name) > 150:
        raise MissingField(field_name, "is longer than 150 characters", decline_code=11)
    return {"lms_user_id": None, "lms_username": (name or text)[:150]}


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
