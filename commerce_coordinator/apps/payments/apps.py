from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "commerce_coordinator.apps.payments"
    label = "payments"
    verbose_name = "Payments (provider webhooks)"

    def ready(self):
        from . import checks  # noqa: F401  (registers the payments system checks)
