"""Fixtures for the cross-app tests: the LMS fake of the lms app's tests."""

from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401
