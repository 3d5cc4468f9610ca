"""Settings for bench/fulfillment: base settings, the bench's own databases, a Redis broker, the demo LMS.

Databases: DB_NAME / TRACES_DB_NAME (default cc_bench_fulfillment, cc_bench_fulfillment_traces) on
MariaDB (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD as in base.py). The broker is CC_BENCH_BROKER_URL
(default redis://127.0.0.1:6379/13) on the queue CC_BENCH_QUEUE (every task of the run: the webhook
processing task and the per-line tasks); LMS_URL_ROOT points at the demo LMS served by its own
gunicorn (CC_BENCH_LMS_PORT). The signal routing (CC_SIGNALS) is the production one from base.py:
payment_succeeded -> payments' log receiver + lms.fulfill_paid_order. The Stripe webhook secret
is a bench-only value (the driver signs with it).
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
# The minimal pipeline is what a user might write instead: on Django's own MySQL backend (ours is core's, ADR 75),
# the same database.
DATABASES["minimal"] = {**DATABASES["default"], "ENGINE": "django.db.backends.mysql"}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CC_DEMO_ENDPOINTS_ENABLED = True

CELERY_BROKER_URL = os.environ.get("CC_BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CC_BENCH_QUEUE", "cc-bench-fulfillment")
# ONE worker runs every task of the run (webhook processing and the lms line tasks too): no per-app
# queues (production has them: PAYMENTS_CELERY_QUEUE, LMS_CELERY_QUEUE).
CELERY_TASK_ROUTES: dict = {}
CELERY_TASK_QUEUES = None
# --workers split (scale out): production's two queues, named after the run's queue: webhook processing on
# <queue>-payments, the line tasks (ours and the minimal pipeline's) on <queue>-lms, one worker process each.
if os.environ.get("CC_BENCH_SPLIT_QUEUES") == "1":
    from commerce_coordinator.settings.components.lms import LMS_TASK_ROUTES
    from commerce_coordinator.settings.components.payments import PAYMENTS_TASK_ROUTES

    _lms_tasks = [*LMS_TASK_ROUTES, "bench.minimal.enroll_line"]
    CELERY_TASK_ROUTES = {
        **{name: {"queue": CELERY_TASK_DEFAULT_QUEUE + "-payments"} for name in PAYMENTS_TASK_ROUTES},
        **{name: {"queue": CELERY_TASK_DEFAULT_QUEUE + "-lms"} for name in _lms_tasks},
    }

LMS_URL_ROOT = f"http://127.0.0.1:{os.environ.get('CC_BENCH_LMS_PORT', '8149')}/demo_lms"
LMS_OAUTH_CLIENT_ID = "cc-bench"
LMS_OAUTH_CLIENT_SECRET = "cc-bench-secret"  # a bench-only demo client, not a secret
# The cache of the access token must be shared by nothing but this process: locmem is fine.

# The bench's demo OAuth client secret (above, not a secret) is hashed with MD5: with Django's PBKDF2 (1,000,000
# iterations) each token request cost the demo LMS ~1-2 s of CPU on the 2-core machine, and the warm-up's 16
# token requests (8 worker threads, twice) timed out (10 s) whenever other work loaded it. Per order nothing
# changes: tokens are cached.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]

STRIPE_WEBHOOK_SECRET_FOR_BENCH = "whsec_cc_bench_only"  # not a secret: signs the bench's own events
STRIPE_WEBHOOK_SECRETS = [STRIPE_WEBHOOK_SECRET_FOR_BENCH]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}

# Celery 5.7's Django fixup closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set: each task then opens two new MariaDB connections (default + traces), which
# was ~17 % of the worker's CPU and much of MariaDB's in this bench. With it set, a worker thread keeps its
# connections for that many tasks (then closes them: a broken connection is dropped within that many
# tasks). This is a settings change for production too (settings/base.py, not owned by the lms app);
# CC_BENCH_DB_REUSE_MAX=0 measures Celery's default (close per task).
CELERY_DB_REUSE_MAX = int(os.environ.get("CC_BENCH_DB_REUSE_MAX", "100")) or None

# The minimal pipeline the bench compares with (bench/fulfillment_support/minimal.py): its view and its task.
ROOT_URLCONF = "fulfillment_support.urls"
CELERY_IMPORTS = ["fulfillment_support.minimal"]

# This bench charges no saved payment method: no provider credentials needed (payments.E004/E005).
PAYMENTS_CHARGE_PROVIDERS = []
