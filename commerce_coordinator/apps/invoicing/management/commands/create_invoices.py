"""manage.py create_invoices: the next period's blank invoice for every active account that has none."""

from commerce_coordinator.apps.invoicing import billing
from commerce_coordinator.apps.invoicing.commanding import BillingCommand
from commerce_coordinator.apps.invoicing.models import Account


class Command(BillingCommand):
    help = "Create the next period's invoice (blank, draft) for every active account that has none."
    name = "create_invoices"
    default_period = "next"

    def total(self, scope):
        return Account.objects.filter(status=Account.Status.ACTIVE).count()

    def work(self, scope, run, progress):
        return billing.create_invoices(scope, run, progress)
