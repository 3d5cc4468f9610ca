"""Who may call the LMS fulfillment API: core's service-API authentication (core.api_auth, ADR 0021)."""

from commerce_coordinator.apps.core.api_auth import AUTHENTICATION_CLASSES, PERMISSION_CLASSES

__all__ = ["AUTHENTICATION_CLASSES", "PERMISSION_CLASSES"]
