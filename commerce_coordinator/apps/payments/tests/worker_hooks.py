"""Imported by a test's Celery worker (``celery worker --include``): adds a receiver that is slow the first time.

Only active when PAYMENTS_TEST_MARKER names a file: each call appends its process id there; the first call
then sleeps, so the test can kill the worker in the middle of the task.
"""

import os
import time

MARKER = os.environ.get("PAYMENTS_TEST_MARKER", "")
SIGNAL = "commerce_coordinator.apps.payments.signals.payment_succeeded"
RECEIVER = "commerce_coordinator.apps.payments.tests.worker_hooks.slow_the_first_time"


def slow_the_first_time(sender, **kwargs):
    with open(MARKER, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    with open(MARKER, encoding="utf-8") as f:
        calls = len(f.read().split())
    if calls == 1:
        time.sleep(120)
    return f"call {calls}"


if MARKER:
    from django.conf import settings

    from commerce_coordinator.apps.core import routing

    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SIGNAL: [*settings.CC_SIGNALS[SIGNAL], RECEIVER]}
    routing.wire()
