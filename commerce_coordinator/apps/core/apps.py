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
    """Tests override CC_SIGNALS and the trace settings; the routing and the tracer follow."""
    from . import routing, tracing

    if setting in ("CC_SIGNALS", "CC_WAFFLE_SWITCHES"):
        routing.wire()
    elif setting == "CC_TRACE_SAMPLE_RATE":
        tracing.load_settings()
