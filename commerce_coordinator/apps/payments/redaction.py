"""Keep e-mail addresses, card numbers and secrets (webhook secrets, client secrets, tokens, passwords)
out of logs, stored error texts and the admin's view of stored payloads."""

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# Provider keys, and a PaymentIntent's or SetupIntent's client secret (pi_..._secret_...).
_SECRET = re.compile(r"\b(?:(?:whsec|sk_live|sk_test|rk_live|rk_test)_\w+|\w+_secret_\w+)")
# Payload fields whose value is a credential whatever it looks like: secret, client_secret, *_secret,
# token, access_token, *_token, password, *_password (any case).
_SECRET_FIELD = re.compile(r"^(?:.*_)?(?:secret|token|password)$", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _SECRET.sub("[secret]", str(text))
    text = _EMAIL.sub("[e-mail]", text)
    return _CARD.sub("[card number]", text)


def redact_fields(data):
    """A copy of a JSON-like payload with the value of every secret-named field replaced, at any depth."""
    if isinstance(data, dict):
        return {
            key: REDACTED if _SECRET_FIELD.match(str(key)) and value not in (None, "") else redact_fields(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact_fields(item) for item in data]
    return data
