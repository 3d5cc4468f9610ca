"""manage.py audit_invoices: every invoice's state is its chain's last state, and its totals its lines'."""

import json

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.invoicing.audit import audit


class Command(BaseCommand):
    help = "Verify each invoice against its event chain (state, seq without gaps) and its lines (totals)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print a one-object JSON summary.")

    def handle(self, *args, **options):
        report = audit()
        for problem in report["problems"]:
            self.stderr.write(f"{problem['invoice']}: {problem['problem']}")
        if report["problems"]:
            raise CommandError(f"{len(report['problems'])} invoice(s) disagree with their chain or lines")
        if options["json"]:
            return json.dumps(report)
        return f"checked {report['checked']} invoice(s), 0 problems"
