"""manage.py restore_products: restore every periodic product's usage quota for the period, once."""

from commerce_coordinator.apps.invoicing import billing
from commerce_coordinator.apps.invoicing.commanding import BillingCommand
from commerce_coordinator.apps.invoicing.models import ProductPeriodMark


class Command(BillingCommand):
    help = "Restore the usage quota of every periodic product for the period (once per product and period)."
    name = "restore_products"

    def work(self, scope, run, progress):
        return billing.mark_products(ProductPeriodMark.Kind.RESTORE, scope, progress)
