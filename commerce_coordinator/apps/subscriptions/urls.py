"""Mounted at /api/v1/billing/ beside invoicing's billing API."""

from django.urls import path

from . import views

app_name = "subscriptions"

urlpatterns = [
    path("subscriptions/", views.SubscriptionListView.as_view(), name="subscriptions"),
    path("subscriptions/<int:subscription_id>/", views.SubscriptionView.as_view(), name="subscription"),
    path(
        "accounts/<int:account_id>/subscriptions/",
        views.AccountSubscriptionsView.as_view(),
        name="account-subscriptions",
    ),
]
