import os
import time

from django.urls import path

from commerce_coordinator.urls import urlpatterns as service_urls

from .minimal import minimal_stripe_webhook

urlpatterns = [*service_urls, path("bench/minimal/stripe/", minimal_stripe_webhook)]

if os.environ.get("CC_BENCH_RELAY_ALWAYS_WAITS"):  # the relay before ADR 70, for the same-run comparison
    from commerce_coordinator.apps.payments import relay

    def _run_always_waiting(self, window=float(os.environ["CC_BENCH_RELAY_ALWAYS_WAITS"])):
        while not self._stopped:
            with self._wake:
                while not self._items and not self._stopped:
                    self._wake.wait()
            time.sleep(window)  # the old relay: every first item waited the whole window
            self.flush()

    relay.Relay._run = _run_always_waiting
