from django.urls import path

from . import lms_api, views

app_name = "demo_lms"

urlpatterns = [
    path("test/", views.TestSignalView.as_view(), name="test"),
    path("test_celery_signal/", views.TestCelerySignalView.as_view(), name="test_celery_signal"),
    path("demo_purchase_complete/", views.DemoPurchaseCompleteView.as_view(), name="demo_purchase_complete"),
    # The demo LMS: what LMS_URL_ROOT points at locally.
    path("oauth2/access_token", lms_api.AccessTokenView.as_view(), name="access_token"),
    path("oauth2/access_token/", lms_api.AccessTokenView.as_view()),
    path("api/enrollment/v1/enrollment", lms_api.EnrollmentView.as_view(), name="enrollment"),
    path("api/enrollment/v1/enrollment/", lms_api.EnrollmentView.as_view()),
]
