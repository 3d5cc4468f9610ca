"""manage.py replay_billing_dead_letters: send dead-lettered bus commands back to the command queue."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from ...replay import replay_dead_letters


class Command(BaseCommand):
    help = (
        "Move dead-lettered commands (all, or --message-id ...) back to the command queue after the cause was "
        "fixed; each replay writes an audit row (core.WorkAudit). --dry-run lists them and moves nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=False, default="", help="Why (required unless --dry-run).")
        parser.add_argument("--actor", default=None, help="Who (default: the logged-in user).")
        parser.add_argument("--message-id", action="append", default=[], dest="message_ids")
        parser.add_argument("--limit", type=int, default=None, help="Replay at most N.")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--queue", default=None, help="The command queue (default CC_BUS_QUEUE).")

    def handle(self, *args, reason="", actor=None, message_ids=(), limit=None, dry_run=False, queue=None, **opts):
        if not dry_run and not reason.strip():
            raise CommandError("--reason is required: say why these commands are sent again")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be 1 or more")
        letters = replay_dead_letters(actor or getpass.getuser(), reason, set(message_ids), limit, dry_run, queue)
        for letter in letters:
            action = "replayed" if letter.replayed else "left"
            self.stdout.write(f"{action}\t{letter.command or '?'}\t{letter.message_id or '?'}\t{letter.reason}")
        replayed = sum(letter.replayed for letter in letters)
        self.stdout.write(f"{replayed} replayed, {len(letters) - replayed} left in the dead-letter queue.")
