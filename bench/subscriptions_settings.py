"""Settings for bench/subscriptions: the base settings (routing included) on the bench's OWN MariaDB databases."""

from commerce_coordinator.settings.base import *  # noqa: F403
from commerce_coordinator.settings.base import DATABASES

for _alias, _db in DATABASES.items():
    if "bench" not in str(_db["NAME"]):
        raise RuntimeError(f"refusing to benchmark on a database whose name has no 'bench' in it: {_db['NAME']}")

DEBUG = False
# Charge tasks are published (payments' receiver, on commit) to an in-memory broker and never run:
# the bench measures renewals up to "charge requested".
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = False
STRIPE_API_KEY = "sk_test_bench"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
