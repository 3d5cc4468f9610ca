"""Settings for bench/invoicing: the base settings (routing included) on the bench's OWN MariaDB databases."""

import os

from commerce_coordinator.settings.base import *  # noqa: F403
from commerce_coordinator.settings.base import DATABASES

for _alias, _db in DATABASES.items():
    if "bench" not in str(_db["NAME"]):
        raise RuntimeError(f"refusing to benchmark on a database whose name has no 'bench' in it: {_db['NAME']}")

DEBUG = False
# In process by default; the end-to-end phase gives the dispatch and its Celery worker a Redis broker.
CELERY_BROKER_URL = os.environ.get("CC_BENCH_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_DEFAULT_QUEUE = str(DATABASES["default"]["NAME"]).replace("_", "-")  # bench/invoicing's worker's -Q
CC_DEMO_ENDPOINTS_ENABLED = True  # the demo gateway, served by the bench's gunicorn
STRIPE_API_KEY = "sk_test_demo_gateway"
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:9/demo_gateway/stripe")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Traces as in production by default (every dispatch page and charge attempt is a trace); override to compare.
CC_TRACE_SAMPLE_RATE = float(os.environ.get("CC_TRACE_SAMPLE_RATE", "1.0"))
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}

# The bench charges through Stripe only (the demo gateway): no CloudPayments credentials (payments.E005).
PAYMENTS_CHARGE_PROVIDERS = ["stripe"]
