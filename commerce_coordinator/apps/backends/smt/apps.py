from django.apps import AppConfig


class SmtConfig(AppConfig):
    name = "commerce_coordinator.apps.backends.smt"
    label = "backends_smt"
    verbose_name = "Contract backend: SMT"
