"""Re-process stored webhook events: ``manage.py replay_webhook_events --status failed``.

Each replay is core's requeue with a ``core.WorkAudit`` row (who, when, --reason). An unroutable event is
replayed with the metadata an operator supplies: ``--id evt_1 --set-metadata order_number=O-1 ...``.
"""

import getpass
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ... import inbox
from ...models import LEGACY_STATUS, WebhookEvent

STATUSES = [s.value for s in WebhookEvent.Status] + list(LEGACY_STATUS)


def _since(value: str):
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since {value!r}: give a date (2026-11-22) or a date and time (2026-11-22T10:00)")
        moment = datetime.combine(day, time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.get_current_timezone())


def _by_ids(ids: list[str]) -> Q:
    """Events named by database id or provider event id; an id that names no event is a CommandError."""
    by_id = Q(event_id__in=ids)
    numeric = [int(i) for i in ids if i.isdigit()]
    if numeric:
        by_id |= Q(pk__in=numeric)
    found = set()
    for pk, event_id in WebhookEvent.objects.filter(by_id).values_list("pk", "event_id"):
        found.update((str(pk), event_id))
    missing = [i for i in ids if i not in found]
    if missing:
        raise CommandError(f"No webhook event with id {', '.join(missing)} (give a database id or a provider event id)")
    return by_id


class Command(BaseCommand):
    help = "Re-enqueue stored webhook events for processing, printing each one it replayed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            action="append",
            choices=STATUSES,
            help="Events in this status (repeatable; received, processing and processed are the old names of "
            "pending, running and done). Default: failed, unless --id is given.",
        )
        parser.add_argument("--since", help="Events received at or after this date/time (ISO 8601).")
        parser.add_argument("--type", action="append", help="Events of this provider event type (repeatable).")
        parser.add_argument("--provider", action="append", help="Events of this provider (repeatable).")
        parser.add_argument(
            "--id",
            action="append",
            dest="ids",
            help="An event: its database id or the provider's event id (repeatable).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replay processed, ignored and processing events too (receivers run again).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be replayed; change nothing.")
        parser.add_argument(
            "--set-metadata",
            action="append",
            dest="metadata",
            metavar="KEY=VALUE",
            help="Order metadata to store on the events and read over their payload's (repeatable), e.g. "
            "order_number=O-1, lms_user_id=42, course_run_keys=course-v1:A+B+C (Stripe metadata names; "
            "CloudPayments fields such as InvoiceId, AccountId).",
        )
        parser.add_argument("--reason", default="", help="Why (kept in the audit row, core.WorkAudit).")

    def handle(
        self,
        *args,
        status=None,
        since=None,
        type=None,
        provider=None,
        ids=None,
        force=False,
        dry_run=False,
        metadata=None,
        reason="",
        **options,
    ):
        corrections = _metadata(metadata or [])
        if corrections and not ids:
            raise CommandError("--set-metadata names one order: give the event with --id")
        events = WebhookEvent.objects.all()
        if ids:
            events = events.filter(_by_ids(ids))
        if status or not ids:
            wanted = [LEGACY_STATUS.get(s, s) for s in status or [WebhookEvent.Status.FAILED]]
            if "failed" in (status or ["failed"]):
                wanted.append(WebhookEvent.Status.RETRY)  # "failed" covered both before (ADR 0015)
            events = events.filter(status__in=wanted)
        if since:
            events = events.filter(created_at__gte=_since(since))
        if type:
            events = events.filter(type__in=type)
        if provider:
            events = events.filter(provider__in=provider)
        events = list(events.order_by("created_at"))
        if dry_run:
            for event in events:
                word = inbox.operator_word(event.status)
                self.stdout.write(f"would replay {event.pk} {event.provider}:{event.event_id} {event.type} ({word})")
            self.stdout.write(f"{len(events)} event(s) match (dry run).")
            return
        done = inbox.replay(events, force=force, actor=_actor(), reason=reason, metadata=corrections)
        for event, what in done:
            self.stdout.write(f"{event.pk} {event.provider}:{event.event_id} {event.type}: {what}")
        replayed = sum(1 for _, what in done if what.startswith("replayed"))
        self.stdout.write(self.style.SUCCESS(f"Replayed {replayed} of {len(done)} matching event(s)."))


def _metadata(pairs: list[str]) -> dict:
    corrections = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set-metadata {pair!r}: give KEY=VALUE, e.g. order_number=O-1")
        corrections[key.strip()] = value.strip()
    return corrections


def _actor() -> str:
    try:
        return f"{getpass.getuser()} (manage.py replay_webhook_events)"
    except (KeyError, OSError):
        return "manage.py replay_webhook_events"
