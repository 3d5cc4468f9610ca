"""Fixtures for the cross-app tests: the LMS fake, invoicing's demo gateway and clock, contracts' test backends."""

from commerce_coordinator.apps.contracts.tests.conftest import backends  # noqa: F401
from commerce_coordinator.apps.invoicing.tests.conftest import _clock, gateway  # noqa: F401
from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401
