"""Settings for bench/fulfillment: base settings, the bench's own databases, a Redis broker, the demo LMS.

Databases: DB_NAME / TRACES_DB_NAME (default cc_bench_fulfillment, cc_bench_fulfillment_traces) on
MariaDB (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD as in base.py). The broker is CC_BENCH_BROKER_URL
(default redis://127.0.0.1:6379/13) on the queue CC_BENCH_QUEUE; LMS_URL_ROOT points at the
demo LMS served by gunicorn (CC_BENCH_LMS_PORT).
"""

import os

os.environ["DB_ENGINE"] = "mysql"
os.environ.setdefault("DB_NAME", "cc_bench_fulfillment")
os.environ.setdefault("TRACES_DB_NAME", "cc_bench_fulfillment_traces")

from commerce_coordinator.settings.base import *  # noqa: E402, F403
from commerce_coordinator.settings.base import database_settings  # noqa: E402

DATABASES = {
    "default": database_settings("DB_NAME", "cc_bench_fulfillment"),
    "traces": database_settings("TRACES_DB_NAME", "cc_bench_fulfillment_traces"),
}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CC_DEMO_ENDPOINTS_ENABLED = True

CELERY_BROKER_URL = os.environ.get("CC_BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CC_BENCH_QUEUE", "cc-bench-fulfillment")

LMS_URL_ROOT = f"http://127.0.0.1:{os.environ.get('CC_BENCH_LMS_PORT', '8149')}/demo_lms"
LMS_OAUTH_CLIENT_ID = "cc-bench"
LMS_OAUTH_CLIENT_SECRET = "cc-bench-secret"  # a bench-only demo client, not a secret
# The cache of the access token must be shared by nothing but this process: locmem is fine.

CC_SIGNALS = {
    "fulfillment_bench_signals.payment_succeeded": ["commerce_coordinator.apps.lms.receivers.fulfill_paid_order"],
    "commerce_coordinator.apps.lms.signals.fulfillment_completed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_completed"
    ],
    "commerce_coordinator.apps.lms.signals.fulfillment_failed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_failed"
    ],
}
CC_WAFFLE_SWITCHES: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
