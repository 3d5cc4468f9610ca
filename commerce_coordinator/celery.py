"""The Celery app. Settings prefixed CELERY_ configure it; tasks are found in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_coordinator.settings.local")

app = Celery("commerce_coordinator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
