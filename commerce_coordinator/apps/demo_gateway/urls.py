"""Mounted at /demo_gateway/ when DEBUG or CC_DEMO_ENDPOINTS_ENABLED (like the demo LMS)."""

from django.urls import path

from . import views

app_name = "demo_gateway"

urlpatterns = [
    path("stripe/v1/payment_intents", views.stripe_payment_intents, name="stripe-payment-intents"),
    path("stripe/v1/refunds", views.stripe_refunds, name="stripe-refunds"),
    path("cloudpayments/payments/tokens/charge", views.cloudpayments_token_charge, name="cloudpayments-charge"),
    path("cloudpayments/payments/refund", views.cloudpayments_refund, name="cloudpayments-refund"),
]
