from django.urls import path

from commerce_coordinator.urls import urlpatterns as service_urls

from .baseline import baseline_stripe_webhook

urlpatterns = [*service_urls, path("bench/baseline/stripe/", baseline_stripe_webhook)]
