"""`manage.py provision_demo_data`: demo data for demo_lms, run by `provision_local`.

Listed in settings.CC_DEMO_DATA_COMMANDS. Like every demo-data command it is
idempotent, prints what it did, and returns a non-empty summary only when it
changed something. demo_lms keeps no data yet: its demo flow needs only the
waffle switch that provisioning already creates from CC_WAFFLE_SWITCHES.
"""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load demo_lms demo data (idempotent)."

    def handle(self, *args, **options):
        self.stdout.write("demo_lms: no demo data to load (nothing to change)")
        return ""
