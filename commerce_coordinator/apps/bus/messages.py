"""Bus messages: what a command message is, how it is checked against its signal, and how it is encoded.

A message is a JSON object `{"command": ..., "message_id": ..., **arguments}`; the arguments are the
keyword arguments of the CoordinatorSignal that CC_BUS_COMMANDS names for the command. JSON carries
Decimal amounts as strings (or integers) and dates as ISO 8601 strings; they are converted here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string

from commerce_coordinator.apps.core.signals import CoordinatorSignal, SignalArgumentError

RESERVED_KEYS = ("command", "message_id")
MAX_MESSAGE_ID = 255
# Types a JSON message can carry to a signal argument (with the conversions below).
JSON_TYPES = (str, int, float, bool, type(None), list, dict, Decimal, date, datetime)


class RejectedMessage(ValueError):
    """A message that can never be carried out as it is (it goes to the dead-letter queue with this reason)."""


@dataclass(frozen=True)
class CommandMessage:
    command: str
    message_id: str
    signal: CoordinatorSignal
    arguments: dict  # converted to the declared types: the signal's keyword arguments
    raw_arguments: dict  # as received (JSON), for the ledger


def signal_for(command: str) -> CoordinatorSignal:
    """The signal CC_BUS_COMMANDS names for a command (RejectedMessage when none does)."""
    commands = settings.CC_BUS_COMMANDS
    if command not in commands:
        known = ", ".join(sorted(commands)) or "none configured"
        raise RejectedMessage(f"unknown command {command!r} (known: {known})")
    return import_string(commands[command])


def parse(body: bytes | str) -> CommandMessage:
    """Decode and check one message; raises RejectedMessage saying what is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RejectedMessage(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RejectedMessage(f"body is a JSON {type(data).__name__}, not an object")
    message_id, command = data.get("message_id"), data.get("command")
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_MESSAGE_ID:
        raise RejectedMessage(f"'message_id' must be a non-empty string of at most {MAX_MESSAGE_ID} characters")
    if not isinstance(command, str):
        raise RejectedMessage("'command' must be a string")
    signal = signal_for(command)
    raw = {k: v for k, v in data.items() if k not in RESERVED_KEYS}
    if "message_id" in signal.arguments:  # a signal that declares it gets the message id (an idempotency key)
        raw_for_signal = {**raw, "message_id": message_id}
    else:
        raw_for_signal = raw
    return CommandMessage(command, message_id, signal, convert_arguments(signal, raw_for_signal), raw)


def convert_arguments(signal: CoordinatorSignal, raw: dict) -> dict:
    """JSON values -> the signal's declared types; RejectedMessage on a missing, extra or invalid argument."""
    converted = {
        name: _convert(name, value, signal.arguments[name]) for name, value in raw.items() if name in signal.arguments
    }
    # An argument that may be None may be left out of the message (e.g. a refund's amount: all of it).
    converted.update({name: None for name in optional_arguments(signal) if name not in raw})
    converted.update({name: value for name, value in raw.items() if name not in signal.arguments})
    try:
        signal.check_arguments(converted)
    except SignalArgumentError as exc:
        raise RejectedMessage(str(exc)) from None
    return converted


def optional_arguments(signal: CoordinatorSignal) -> list[str]:
    """The arguments whose declared types include None: a message may leave them out."""
    return [name for name, declared in signal.arguments.items() if type(None) in _types(declared)]


def _types(declared) -> tuple:
    return declared if isinstance(declared, tuple) else (declared,)


def _convert(name: str, value, declared):
    types = _types(declared)
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return value
    for target in types:
        try:
            if target is Decimal and isinstance(value, (str, int)) and not isinstance(value, bool):
                number = Decimal(str(value))
                if number.is_finite():
                    return number
            if target is float and isinstance(value, (str, int)) and not isinstance(value, bool):
                return float(value)
            if target is datetime and isinstance(value, str):
                return datetime.fromisoformat(value)
            if target is date and isinstance(value, str):
                return date.fromisoformat(value)
        except (InvalidOperation, ValueError):
            continue
    if isinstance(value, bool):  # JSON true is no integer, whatever Python's bool says
        expected = " or ".join(t.__name__ for t in types)
        raise RejectedMessage(f"argument {name!r} must be {expected}, got bool")
    return value  # left as it is: check_arguments names the expected type


def encode(command: str, message_id: str, arguments: dict) -> bytes:
    """The JSON body of a command message (Decimal as a string, dates in ISO 8601)."""
    return json.dumps({"command": command, "message_id": message_id, **arguments}, cls=DjangoJSONEncoder).encode()
