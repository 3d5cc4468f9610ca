"""Settings for bench/webhooks: the base settings on MariaDB and Redis, DEBUG off, a bench-only secret and queue."""

import os

os.environ.setdefault("DB_ENGINE", "mysql")

from commerce_coordinator.settings.base import *  # noqa: E402,F403
from commerce_coordinator.settings.base import LOGGING  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "webhooks_support.urls"
STRIPE_WEBHOOK_SECRETS = ["whsec_bench_secret"]
CELERY_BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = "cc-bench-webhooks"
# Every task of the bench on its one queue (purged before and after); production routes webhooks to "payments".
CELERY_TASK_ROUTES: dict = {}
CELERY_TASK_QUEUES = None
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}}

# This bench charges no saved payment method: no provider credentials needed (payments.E004/E005).
PAYMENTS_CHARGE_PROVIDERS = []
