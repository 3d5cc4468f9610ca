from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "commerce_coordinator.apps.subscriptions"
    label = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self):
        from . import checks  # noqa: F401  (registers the subscriptions.E0xx system checks)
