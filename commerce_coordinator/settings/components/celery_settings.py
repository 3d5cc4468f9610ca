"""Celery: broker, serialisation, acknowledgement and queues (the beat schedule is in base.py, beside CC_SIGNALS)."""

import os

from kombu import Queue

from .lms import LMS_CELERY_QUEUE, LMS_TASK_ROUTES
from .payments import PAYMENTS_CELERY_QUEUE, PAYMENTS_TASK_ROUTES

# --- Celery ------------------------------------------------------------------
# With no broker URL, tasks run in process (the embedded default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_DEFAULT_QUEUE", "commerce_coordinator")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep Django LOGGING: every line carries its trace id
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# A worker keeps its database connections across tasks (Celery's Django fixup otherwise closes and
# reopens both on every task: ~17 % of the worker's CPU in bench/fulfillment, ADR 6). A connection that
# broke is not kept: core closes connections that had an error or outlived CONN_MAX_AGE around every task
# (django.db.close_old_connections, as Django does per request), and the failed task is retried (a database
# error is retryable in core.retries). 0 restores Celery's close-per-task default.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "100")) or None

# --- Queues -------------------------------------------------------------------
# Each app's tasks on their own queue, so that one kind of work never waits behind another (issue 9: webhook
# processing behind fulfillment). A worker started without -Q consumes every queue listed here; in production
# run one worker per queue (README, "Workers and queues").
CELERY_TASK_ROUTES = {
    **PAYMENTS_TASK_ROUTES,  # apps/payments: webhook processing on PAYMENTS_CELERY_QUEUE
    **LMS_TASK_ROUTES,  # apps/lms: one task per order line (LMS enrollment calls) on LMS_CELERY_QUEUE
}
CELERY_TASK_QUEUES = [Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(PAYMENTS_CELERY_QUEUE), Queue(LMS_CELERY_QUEUE)]
