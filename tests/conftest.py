"""Fixtures for the cross-app tests: the LMS fake, invoicing's clock fixture, contracts' test backends, and
the billing clock (core.clock, the one clock invoicing and subscriptions read) at a fixed moment (the demo
gateway, `gateway`, is the root conftest's)."""

import datetime as _dt

import pytest

from commerce_coordinator.apps.contracts.tests.conftest import backends  # noqa: F401
from commerce_coordinator.apps.core import clock
from commerce_coordinator.apps.invoicing.tests.conftest import _clock  # noqa: F401
from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401


@pytest.fixture
def billing_clock():
    """Core's one clock, which invoicing and subscriptions both read, at 2026-12-02 12:00 UTC; real time after."""
    clock.set_to(_dt.datetime(2026, 12, 2, 12, tzinfo=_dt.UTC))
    yield clock
    clock.reset()
