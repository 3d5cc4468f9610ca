from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "commerce_coordinator.apps.invoicing"
    label = "invoicing"
    verbose_name = "Invoicing"

    def ready(self):
        from . import checks  # noqa: F401  (registers the invoicing.E0xx system checks)
