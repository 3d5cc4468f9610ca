from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "commerce_coordinator.apps.payments"
    label = "payments"
    verbose_name = "Payments (provider webhooks)"
