"""Keep e-mail addresses, card numbers and webhook secrets out of logs and stored error texts."""

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SECRET = re.compile(r"\b(?:whsec|sk_live|sk_test|rk_live|rk_test)_\w+")


def redact(text: str) -> str:
    text = _SECRET.sub("[secret]", str(text))
    text = _EMAIL.sub("[e-mail]", text)
    return _CARD.sub("[card number]", text)
