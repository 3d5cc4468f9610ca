from django.apps import AppConfig


class TelmexConfig(AppConfig):
    name = "commerce_coordinator.apps.backends.telmex"
    label = "backends_telmex"
    verbose_name = "Contract backend: TELMEX"
