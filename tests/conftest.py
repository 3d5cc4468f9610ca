"""Fixtures for the cross-app tests: the LMS fake of the lms app's tests, invoicing's demo gateway and clock."""

from commerce_coordinator.apps.invoicing.tests.conftest import _clock, gateway  # noqa: F401
from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401
