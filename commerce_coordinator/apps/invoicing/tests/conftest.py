"""Fixtures of the invoicing tests: the demo gateway on a real HTTP port, a clean clock, sent signals."""

import pytest
from django.apps import apps

from commerce_coordinator.apps.invoicing import clock


@pytest.fixture(autouse=True)
def _clock():
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def gateway(live_server, settings):
    """The demo gateway served by a live server; both providers' API bases point at it."""
    root = f"{live_server.url}/demo_gateway"
    settings.STRIPE_API_BASE = f"{root}/stripe"
    settings.CLOUDPAYMENTS_API_BASE = f"{root}/cloudpayments"

    class Gateway:
        url = root

        @staticmethod
        def calls() -> int:
            return sum(apps.get_model("demo_gateway", "DemoCharge").objects.values_list("calls", flat=True))

    return Gateway
