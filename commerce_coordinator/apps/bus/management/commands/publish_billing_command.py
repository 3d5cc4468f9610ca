"""manage.py publish_billing_command: put one admin-panel command on the bus (operators, demos, tests)."""

import json

from django.core.management.base import BaseCommand, CommandError

from ... import messages
from ...publisher import publish_command


class Command(BaseCommand):
    help = (
        "Publish one command to the bus queue. Arguments as NAME=VALUE (VALUE is JSON when it parses, else a "
        "string) and/or --json '{...}'. Prints the message id (a new UUID unless --message-id is given)."
    )

    def add_arguments(self, parser):
        parser.add_argument("command", help="A command name of CC_BUS_COMMANDS, e.g. issue_invoice.")
        parser.add_argument("arguments", nargs="*", metavar="NAME=VALUE")
        parser.add_argument("--json", dest="json_arguments", default=None, help="Arguments as one JSON object.")
        parser.add_argument("--message-id", default=None, help="Reuse an id: a second publish changes nothing.")
        parser.add_argument("--queue", default=None, help="Publish to this queue instead of CC_BUS_QUEUE.")

    def handle(self, command, arguments, json_arguments=None, message_id=None, queue=None, **options):
        values = parse_json_object(json_arguments) if json_arguments else {}
        for pair in arguments:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise CommandError(f"{pair!r} is not NAME=VALUE")
            values[name] = parse_value(value)
        try:
            message_id = publish_command(command, values, message_id=message_id, queue=queue)
        except messages.RejectedMessage as exc:
            raise CommandError(f"not published: {exc}") from None
        self.stdout.write(message_id)


def parse_json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"--json is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CommandError("--json must be a JSON object")
    return value


def parse_value(text: str):
    """JSON when it parses (5, true, null, [..]) except for numbers with a decimal point, kept as strings
    (a Decimal amount); anything else is the string itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(value, float) else value
