"""manage.py dispatch_invoices: populate, finalize and charge due invoices; retry errors and due charges."""

from commerce_coordinator.apps.invoicing import billing
from commerce_coordinator.apps.invoicing.commanding import BillingCommand


class Command(BillingCommand):
    help = (
        "Populate the current period's invoices from the accounts' products, finalize and charge them; "
        "invoices in error and open invoices whose next attempt is due are retried. Without --period: "
        "every draft whose period has started."
    )
    name = "dispatch_invoices"
    traced_as_one = False  # a trace per invoice

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--no-charge", action="store_true", help="Populate and finalize only; charge later.")

    def scope(self, options):
        scope = super().scope(options)
        scope.charge = not options["no_charge"]
        return scope

    def total(self, scope):
        return billing._to_finalize(scope).count() + billing._to_charge(scope).count()

    def work(self, scope, run, progress):
        return billing.dispatch_invoices(scope, run, progress)
