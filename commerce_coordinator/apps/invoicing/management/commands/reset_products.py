"""manage.py reset_products: capacity back to the initial steps, once the period's invoice billed the extras."""

from commerce_coordinator.apps.invoicing import billing
from commerce_coordinator.apps.invoicing.commanding import BillingCommand
from commerce_coordinator.apps.invoicing.models import ProductPeriodMark


class Command(BillingCommand):
    help = (
        "Set every product's capacity back to its initial steps (extra steps bought last period end), once per "
        "product and period; run after dispatch_invoices (products whose invoice is not finalized yet wait)."
    )
    name = "reset_products"

    def work(self, scope, run, progress):
        return billing.mark_products(ProductPeriodMark.Kind.RESET, scope, progress)
