"""The one order-number rule (core.validation) and the logging filter that redacts every app's logs."""

import io
import logging
import logging.config

import pytest
from django.conf import settings

from commerce_coordinator.apps.core import validation
from commerce_coordinator.apps.core.redaction import RedactingFilter, redact


@pytest.mark.parametrize("number", ["ORD-1", "a", "edX:2026.11_x-9", "A" * 128])
def test_order_numbers_that_follow_the_rule(number):
    assert validation.is_order_number(number)


@pytest.mark.parametrize("number", ["", "a@b.com", "has space", "-x", "A" * 129, "x\n", None, 12])
def test_order_numbers_that_do_not(number):
    assert not validation.is_order_number(number)


def test_redact_replaces_emails_card_numbers_and_secrets():
    text = redact(
        "buyer jane.doe+x@example.co.uk paid with 4242 4242 4242 4242 (whsec_abc123) password=hunter2 "
        'Authorization: Bearer eyJhbGciOi {"client_secret": "s3cr3t"}'
    )
    for secret in ("jane.doe", "4242 4242", "whsec_abc123", "hunter2", "eyJhbGciOi", "s3cr3t"):
        assert secret not in text
    assert "[e-mail]" in text and "[card number]" in text and "[secret]" in text


def _configured_output(configure) -> str:
    """What the project's LOGGING writes for a record of any app's logger."""
    stream = io.StringIO()
    config = {**settings.LOGGING, "handlers": {k: dict(v) for k, v in settings.LOGGING["handlers"].items()}}
    config["handlers"]["console"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(config)
    try:
        configure()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    return stream.getvalue()


def test_logging_redacts_every_apps_messages_and_tracebacks():
    def log():
        logging.getLogger("commerce_coordinator.apps.lms.fulfillment").warning("Order for %s", "a.b@example.com")
        logging.getLogger("some.other.library").error("card %s", "4111111111111111")
        try:
            raise ValueError("secret whsec_deadbeef in an exception, from x@y.org")
        except ValueError:
            logging.getLogger("commerce_coordinator.apps.payments").exception("failed")

    out = _configured_output(log)
    assert "Order for [e-mail]" in out and "card [card number]" in out and "ValueError" in out
    for secret in ("a.b@example.com", "4111111111111111", "whsec_deadbeef", "x@y.org"):
        assert secret not in out


def test_the_filter_is_on_every_handler_of_the_shipped_logging():
    assert settings.LOGGING["filters"]["redact"]["()"].endswith("redaction.RedactingFilter")
    assert all("redact" in handler.get("filters", []) for handler in settings.LOGGING["handlers"].values())


def test_a_record_with_a_bad_format_string_is_left_to_logging():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    assert RedactingFilter().filter(record) is True
