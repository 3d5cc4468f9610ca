from django.apps import AppConfig
from django.core.signals import setting_changed


class CoreConfig(AppConfig):
    name = "commerce_coordinator.apps.core"
    label = "core"
    verbose_name = "Coordinator core"

    def ready(self):
        from . import async_receivers, checks, routing  # noqa: F401  (registers checks and Celery hooks)

        routing.wire()
        setting_changed.connect(_rewire_on_settings_change, weak=False)


def _rewire_on_settings_change(setting, **kwargs):
    """Tests override CC_SIGNALS; the routing follows."""
    if setting in ("CC_SIGNALS", "CC_WAFFLE_SWITCHES"):
        from . import routing

        routing.wire()
