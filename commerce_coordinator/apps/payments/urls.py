from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("webhooks/<slug:provider>/", views.WebhookView.as_view(), name="webhook"),
    path("webhooks/<slug:provider>/<slug:kind>/", views.WebhookView.as_view(), name="webhook_kind"),
]
