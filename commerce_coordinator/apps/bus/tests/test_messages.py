"""Command messages: decoding, the checks against the signal's declared arguments, and conversions."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.bus import messages
from commerce_coordinator.apps.bus.tests import fixtures


def body(**data) -> bytes:
    return messages.encode(data.pop("command", "subscribe"), data.pop("message_id", "m-1"), data)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"not json {", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "body is a JSON list, not an object"),
        (b'{"command": "subscribe", "account_id": 1, "plan": "p"}', "'message_id' must be a non-empty string"),
        (b'{"command": "subscribe", "message_id": " ", "account_id": 1, "plan": "p"}', "'message_id' must be"),
        (b'{"message_id": "m", "command": 7}', "'command' must be a string"),
        (body(command="launch_rockets"), "unknown command 'launch_rockets' (known: cancel_invoice, issue_invoice"),
        (body(account_id=1), "missing argument(s) plan"),
        (body(account_id=1, plan="p", colour="red"), "undeclared argument(s) colour"),
        (body(account_id="1", plan="p"), "argument 'account_id' must be int, got str"),
        (body(account_id=True, plan="p"), "argument 'account_id' must be int, got bool"),
        (body(command="refund", invoice_number="I-1", amount=1.5), "argument 'amount' must be Decimal, got float"),
        (body(command="refund", invoice_number="I-1", amount="ten"), "argument 'amount' must be Decimal, got str"),
        (body(command="refund", invoice_number="I-1", amount="NaN"), "argument 'amount' must be Decimal"),
    ],
)
def test_a_message_that_cannot_be_carried_out_is_rejected_with_its_reason(raw, reason):
    with pytest.raises(messages.RejectedMessage) as caught:
        messages.parse(raw)
    assert reason in str(caught.value)


def test_arguments_are_converted_to_the_declared_types_and_the_message_id_given_when_declared():
    parsed = messages.parse(
        body(command="issue_invoice", message_id="m-9", account_id=3, period="2026-12", amount="49.90")
    )
    assert parsed.signal is fixtures.issue_invoice
    assert parsed.arguments == {"account_id": 3, "period": "2026-12", "amount": Decimal("49.90"), "message_id": "m-9"}
    assert parsed.raw_arguments == {"account_id": 3, "period": "2026-12", "amount": "49.90"}
    refund = messages.parse(body(command="refund", invoice_number="I-1", amount=5))
    assert refund.arguments == {"invoice_number": "I-1", "amount": Decimal(5)}  # no message_id: not declared


def test_the_encoded_body_carries_decimals_as_strings():
    assert messages.encode("refund", "m", {"amount": Decimal("1.10")}) == (
        b'{"command": "refund", "message_id": "m", "amount": "1.10"}'
    )


@pytest.mark.parametrize(
    "headers, expected",
    [(None, 0), ({}, 0), ({"x-cc-attempts": 2}, 2), ({"x-cc-attempts": "junk"}, 0), ({"x-cc-attempts": -4}, 0)],
)
def test_the_attempt_count_is_read_from_our_header(headers, expected):
    from types import SimpleNamespace

    from commerce_coordinator.apps.bus.consumer import attempts_before

    assert attempts_before(SimpleNamespace(headers=headers)) == expected


def test_an_argument_that_may_be_none_may_be_left_out():
    from commerce_coordinator.apps.core.signals import ALL_SIGNALS, CoordinatorSignal

    optional = CoordinatorSignal({"invoice_number": str, "amount": Decimal | None})
    ALL_SIGNALS.remove(optional)  # a test's own signal: no unrouted-signal warning for it
    assert messages.optional_arguments(optional) == ["amount"]
    assert messages.convert_arguments(optional, {"invoice_number": "I-1"}) == {"invoice_number": "I-1", "amount": None}
    assert messages.convert_arguments(optional, {"invoice_number": "I-1", "amount": "2.50"})["amount"] == Decimal("2.5")
    with pytest.raises(messages.RejectedMessage, match="missing argument"):
        messages.convert_arguments(optional, {"amount": None})
