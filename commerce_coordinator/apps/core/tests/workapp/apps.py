from django.apps import AppConfig


class WorkAppConfig(AppConfig):
    name = "commerce_coordinator.apps.core.tests.workapp"
    label = "core_workapp"
    default_auto_field = "django.db.models.BigAutoField"
