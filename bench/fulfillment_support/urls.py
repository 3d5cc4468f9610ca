import os
import time

from django.urls import path

from commerce_coordinator.urls import urlpatterns as service_urls

from .minimal import minimal_stripe_webhook

urlpatterns = [*service_urls, path("bench/minimal/stripe/", minimal_stripe_webhook)]

if os.environ.get("CC_BENCH_LMS_DELAY_FILE"):  # the demo LMS of --slow-lms: every call waits what the file says
    from commerce_coordinator.apps.demo_lms import lms_api

    _enroll = lms_api.EnrollmentView.post

    def _slow_post(self, request, *args, **kwargs):
        try:
            with open(os.environ["CC_BENCH_LMS_DELAY_FILE"]) as f:
                time.sleep(float(f.read() or 0))
        except (OSError, ValueError):
            pass
        return _enroll(self, request, *args, **kwargs)

    lms_api.EnrollmentView.post = _slow_post

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
