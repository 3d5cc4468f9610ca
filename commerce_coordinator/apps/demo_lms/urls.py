from django.urls import path

from . import views

app_name = "demo_lms"

urlpatterns = [
    path("test/", views.TestSignalView.as_view(), name="test"),
    path("test_celery_signal/", views.TestCelerySignalView.as_view(), name="test_celery_signal"),
    path("demo_purchase_complete/", views.DemoPurchaseCompleteView.as_view(), name="demo_purchase_complete"),
]
