"""The Celery app. Settings prefixed CELERY_ configure it; tasks are found in each app's tasks.py."""

import os

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

# As wsgi.py: a worker started bare is a production worker (manage.py celery and the tests set local/test).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_coordinator.settings.production")

# redis:// and rediss:// brokers through kombu's Redis transport with one client per channel (redis_broker.py).
TRANSPORT_ALIASES.update(dict.fromkeys(("redis", "rediss"), "commerce_coordinator.redis_broker:Transport"))

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
