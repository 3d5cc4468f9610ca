"""Contracts tests: test-only backends in CC_CONTRACT_BACKENDS, fast retries, and a recorder on every signal."""

import pytest
from django.test import override_settings

from commerce_coordinator.apps.contracts import registry

from . import plugins
from .recorders import SIGNALS

HERE = "commerce_coordinator.apps.contracts.tests"
BACKENDS = {
    "alpha": f"{HERE}.plugins.RecordingBackend",
    "beta": f"{HERE}.plugins.RecordingBackend",
    "web": f"{HERE}.plugins.HttpBackend",
    "broken": f"{HERE}.plugins.BrokenDescribe",
    "slow": f"{HERE}.plugins.SlowDescribe",
    "net": None,
}


@pytest.fixture
def backends():
    plugins.reset()
    registry._instance.cache_clear()
    with override_settings(
        CC_CONTRACT_BACKENDS=BACKENDS, CONTRACTS_BACKEND_RETRY_SCHEDULE=[0.01, 0.01], CC_RETRY_JITTER=0
    ):
        yield plugins
    registry._instance.cache_clear()
    plugins.reset()


@pytest.fixture
def signals_sent(settings):
    """Every contracts signal also goes to a recorder; yields the list of (signal name, kwargs)."""
    from django.conf import settings as live

    routes = {}
    for path, receivers in live.CC_SIGNALS.items():
        if ".contracts.signals." in path:
            name = path.rsplit(".", 1)[1]
            routes[path] = [*receivers, f"{HERE}.recorders.{name}"]
    SIGNALS.clear()
    settings.CC_SIGNALS = {**live.CC_SIGNALS, **routes}
    yield SIGNALS
    SIGNALS.clear()
