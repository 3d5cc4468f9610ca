from django.apps import AppConfig


class DemoGatewayConfig(AppConfig):
    name = "commerce_coordinator.apps.demo_gateway"
    label = "demo_gateway"
    verbose_name = "Demo payment gateway"
