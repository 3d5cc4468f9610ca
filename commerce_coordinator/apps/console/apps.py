from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: search, case pages, trace waterfall, attention list, signal map, audited retries."""

    name = "commerce_coordinator.apps.console"
    label = "console"
    verbose_name = "Operator console"
