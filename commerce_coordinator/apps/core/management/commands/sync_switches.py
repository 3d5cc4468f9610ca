"""manage.py sync_switches: create the declared waffle switches that are missing (safe in production)."""

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.core.switches import ensure_declared_switches


class Command(BaseCommand):
    help = "Create every switch of CC_WAFFLE_SWITCHES missing from the database; existing ones are left as they are."

    def handle(self, *args, **options):
        for name, created, active in ensure_declared_switches():
            state = "on" if active else "off"
            self.stdout.write(f"switch {name}: {'created' if created else 'already present'} ({state})")
