"""Keep e-mail addresses, card numbers and secrets out of every app's logs (a logging filter in LOGGING).

Apps may call `redact` on texts they store (error messages) too. The patterns are the ones payments
used for its own texts (payments/redaction.py), now in one place for every app.
"""

import logging
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
SECRET = re.compile(r"\b(?:whsec|sk_live|sk_test|rk_live|rk_test|pk_live)_\w+")
# "password=...", "secret: ...", "Authorization: Bearer ..." and the like.
CREDENTIAL = re.compile(
    r"(?i)\b(password|passwd|secret|client_secret|api_key|token|authorization)(\s*[=:]\s*|\"\s*:\s*\")"
    r"(?:(?:bearer|jwt|basic)\s+)?[^\s\"',;&]+"
)


def redact(text) -> str:
    """The text with secrets, e-mail addresses and card numbers replaced by placeholders."""
    text = SECRET.sub("[secret]", str(text))
    text = CREDENTIAL.sub(r"\1\2[secret]", text)
    text = EMAIL.sub("[e-mail]", text)
    return CARD_NUMBER.sub("[card number]", text)


class RedactingFilter(logging.Filter):
    """Rewrite each record's message (and its traceback) redacted, before any handler formats it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
