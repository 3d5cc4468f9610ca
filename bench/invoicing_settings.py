"""Settings for bench/invoicing: the base settings (routing included) on the bench's OWN MariaDB databases."""

import os

from commerce_coordinator.settings.base import *  # noqa: F403
from commerce_coordinator.settings.base import DATABASES

for _alias, _db in DATABASES.items():
    if not str(_db["NAME"]).startswith("cc_inv_bench"):
        raise RuntimeError(f"refusing to benchmark on a database not named cc_inv_bench*: {_db['NAME']}")

DEBUG = False
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
# Traces as in production by default (every dispatch page and charge attempt is a trace); override to compare.
CC_TRACE_SAMPLE_RATE = float(os.environ.get("CC_TRACE_SAMPLE_RATE", "1.0"))
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
