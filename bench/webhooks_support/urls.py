import os

from django.urls import path

from commerce_coordinator.urls import urlpatterns as service_urls

from .baseline import baseline_stripe_webhook

urlpatterns = [*service_urls, path("bench/baseline/stripe/", baseline_stripe_webhook)]

if os.environ.get("BENCH_NO_PUBLISH") == "1":  # diagnostic (--no-publish): what the broker publish costs
    from commerce_coordinator.apps.payments import inbox, relay

    inbox.enqueue = lambda *args, **kwargs: None
    relay._publish = lambda batch: None  # noqa: ARG005
