import pytest

from . import receivers
from .helpers import CP_SECRET, STRIPE_SECRET

RECORDERS = {
    "commerce_coordinator.apps.payments.signals.payment_succeeded": [
        "commerce_coordinator.apps.payments.tests.receivers.record_succeeded"
    ],
    "commerce_coordinator.apps.payments.signals.payment_failed": [
        "commerce_coordinator.apps.payments.tests.receivers.record_failed"
    ],
    "commerce_coordinator.apps.payments.signals.payment_refunded": [
        "commerce_coordinator.apps.payments.tests.receivers.record_refunded"
    ],
    "commerce_coordinator.apps.payments.signals.subscription_changed": [
        "commerce_coordinator.apps.payments.tests.receivers.record_subscription"
    ],
}


@pytest.fixture(autouse=True)
def payment_settings(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [STRIPE_SECRET]
    settings.CLOUDPAYMENTS_API_SECRETS = [CP_SECRET]
    return settings


@pytest.fixture
def calls(settings):
    """Route the payment signals to recording receivers; the list of (signal, kwargs) they received."""
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, **RECORDERS}
    receivers.CALLS.clear()
    receivers.FAILURES.update(remaining=0, retryable=True)
    yield receivers.CALLS
    receivers.CALLS.clear()


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the processing task, eager in tests) inside a non-transactional test."""

    def run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return run
