"""Fixtures of the invoicing tests: a clean clock (the demo gateway fixture, `gateway`, is the project's conftest's)."""

import pytest

from commerce_coordinator.apps.invoicing import clock


@pytest.fixture(autouse=True)
def _clock():
    clock.reset()
    yield
    clock.reset()
