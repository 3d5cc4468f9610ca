from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "commerce_coordinator.apps.bus"
    label = "bus"
    verbose_name = "Admin-panel commands (RabbitMQ bus)"

    def ready(self):
        from . import checks  # noqa: F401  (registers the bus system checks)
