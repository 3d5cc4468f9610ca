from django.apps import AppConfig


class DemoGatewayConfig(AppConfig):
    name = "commerce_coordinator.apps.demo_gateway"
    label = "demo_gateway"
    verbose_name = "Demo payment gateway"

    def ready(self):
        from .address import remember_dev_server_address

        remember_dev_server_address()
