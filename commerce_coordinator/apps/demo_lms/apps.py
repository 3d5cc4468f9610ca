from django.apps import AppConfig


class DemoLmsConfig(AppConfig):
    name = "commerce_coordinator.apps.demo_lms"
    label = "demo_lms"
    verbose_name = "Demo LMS"
