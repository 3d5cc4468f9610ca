from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "commerce_coordinator.apps.contracts"
    label = "contracts"
    verbose_name = "Contracts"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
