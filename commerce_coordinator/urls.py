from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from commerce_coordinator.apps.core.views import HealthView

# The admin's record lists need the full width at 1400 px (the console has the navigation operators use).
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", HealthView.as_view(), name="health"),
    path("core/", include("commerce_coordinator.apps.core.urls")),
    path("console/", include("commerce_coordinator.apps.console.urls")),
    path("payments/", include("commerce_coordinator.apps.payments.urls")),
    path("api/v1/", include("commerce_coordinator.apps.lms.urls")),
    path("api/v1/", include("commerce_coordinator.apps.contracts.urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="api-schema",
    ),
]

if settings.DEBUG or settings.CC_DEMO_ENDPOINTS_ENABLED:
    urlpatterns.append(path("demo_lms/", include("commerce_coordinator.apps.demo_lms.urls")))

# JSON errors on API paths, Django's pages elsewhere (apps/core/errors.py).
handler400 = "commerce_coordinator.apps.core.errors.bad_request"
handler403 = "commerce_coordinator.apps.core.errors.permission_denied"
handler404 = "commerce_coordinator.apps.core.errors.page_not_found"
handler500 = "commerce_coordinator.apps.core.errors.server_error"
