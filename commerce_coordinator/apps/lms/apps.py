from django.apps import AppConfig


class LmsConfig(AppConfig):
    name = "commerce_coordinator.apps.lms"
    label = "lms"
    verbose_name = "LMS fulfillment"
