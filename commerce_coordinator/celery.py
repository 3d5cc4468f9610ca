"""The Celery app. Settings prefixed CELERY_ configure it; tasks are found in each app's tasks.py."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_coordinator.settings.local")

app = Celery("commerce_coordinator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(weak=False)
def refuse_to_start_on_configuration_errors(**kwargs):
    """A worker with a bad CC_SIGNALS (or any other failing system check) stops before it takes a task."""
    import sys

    from django.core.management.base import SystemCheckError

    from commerce_coordinator.apps.core.checks import refuse_to_start_on_errors

    try:
        refuse_to_start_on_errors()
    except SystemCheckError as error:  # Celery logs and ignores a handler's exception; exit instead
        print(error, file=sys.stderr)
        raise SystemExit(1) from error
