"""Keep e-mail addresses, card numbers and secrets out of logs, stored error texts and the admin."""

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SECRET = re.compile(r"\b(?:whsec|sk_live|sk_test|rk_live|rk_test)_\w+")


def redact(text: str) -> str:
    text = _SECRET.sub("[secret]", str(text))
    text = _EMAIL.sub("[e-mail]", text)
    return _CARD.sub("[card number]", text)


_SECRET_KEYS = re.compile(r"(secret|token|password)$", re.IGNORECASE)


def redact_payload(value):
    """A payload for operators' eyes: values under ``*_secret``, ``*token`` or ``*password`` keys hidden,
    e-mails and card numbers redacted in every string."""
    if isinstance(value, dict):
        return {k: "[secret]" if _SECRET_KEYS.search(str(k)) else redact_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_payload(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
