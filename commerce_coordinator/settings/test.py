"""Test settings: SQLite by default, MariaDB with DB_ENGINE=mysql; the same suite runs on both."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)  # STATIC_ROOT, which whitenoise expects to exist
DEBUG = False
CC_DEMO_ENDPOINTS_ENABLED = True
CC_TRACE_SAMPLE_RATE = 1.0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

for _alias, _db in DATABASES.items():
    if _db["ENGINE"].endswith("sqlite3"):
        # File-backed test databases, so that a Celery worker process can open them too
        # (one set per test run, so that two runs on one machine never share them).
        _db["TEST"] = {"NAME": str(VAR_DIR / f"test_{_alias}_{os.getpid()}.sqlite3")}

# Tests run tasks in process; a test's Celery worker process is given a Redis broker
# (and the test databases' names) in its environment by core.testing.CeleryWorker.
CELERY_BROKER_URL = os.environ.get("CC_WORKER_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
# A test's worker consumes one fresh queue (core.testing.celery_worker): the lms line task stays on the
# default queue here so that it reaches that worker (payments' tests re-route theirs to it). The shipped
# route of lms.process_line is checked by lms's tests (test_durable_lines).
CELERY_TASK_ROUTES = {name: route for name, route in CELERY_TASK_ROUTES.items() if name not in LMS_TASK_ROUTES}  # noqa: F405
CC_TEST_REDIS_URL = os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Task receivers used by the core's own tests, so a test worker knows them.
CELERY_IMPORTS = ("commerce_coordinator.apps.core.tests.fixtures", "commerce_coordinator.apps.core.tests.workapp.tasks")
# A test-only app with a concrete durable work item (core.durable's own tests).
INSTALLED_APPS = [*INSTALLED_APPS, "commerce_coordinator.apps.core.tests.workapp"]  # noqa: F405
DEMO_ITEM_RETRY_SCHEDULE = [0.2, 0.2, 0.2]
# Invoicing and charges: the demo gateway (a live_server test points the API bases at its own port).
STRIPE_API_KEY = "sk_test_demo_gateway"
CLOUDPAYMENTS_PUBLIC_ID = "pk_demo_gateway"
CLOUDPAYMENTS_API_SECRETS = ["cp_test_secret"]
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:9/demo_gateway/stripe")  # a test: its live server
CLOUDPAYMENTS_API_BASE = os.environ.get("CLOUDPAYMENTS_API_BASE", "http://127.0.0.1:9/demo_gateway/cloudpayments")
PAYMENTS_CHARGE_RETRY_SCHEDULE = [0.1, 0.1]
PAYMENTS_REFUND_RETRY_SCHEDULE = [0.1, 0.1]
PAYMENTS_CHARGE_READ_TIMEOUT = 1.0
DEMO_GATEWAY_HANG_SECONDS = 2.0

# apps/bus: its tests' command signals (apps/bus/tests/fixtures.py), so a consumer process started by a
# test knows them too; the test hook that kills the consumer between commit and ack comes from the environment.
_BUS_FIXTURES = "commerce_coordinator.apps.bus.tests.fixtures."
CC_BUS_COMMANDS = {name: _BUS_FIXTURES + name for name in ("issue_invoice", "cancel_invoice", "subscribe", "refund")}
CC_SIGNALS = {
    **CC_SIGNALS,  # noqa: F405
    **{
        _BUS_FIXTURES + name: [_BUS_FIXTURES + "record_effect"]
        for name in ("issue_invoice", "cancel_invoice", "subscribe")
    },
    _BUS_FIXTURES + "refund": [_BUS_FIXTURES + "refund_or_fail"],
}
CC_BUS_RETRY_SCHEDULE = [0.2, 0.2]
CC_BUS_TEST_KILL_AFTER_COMMIT = os.environ.get("CC_BUS_TEST_KILL_AFTER_COMMIT") == "1"
