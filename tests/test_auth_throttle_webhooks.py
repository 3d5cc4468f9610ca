"""Webhooks stay independent of the Basic-auth failure throttle (issue 9, item 4): a client blocked for
bad credentials still delivers signed webhooks, and a stray Authorization header on a webhook is ignored."""

import base64

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.payments.tests.helpers import STRIPE_SECRET, payment_intent, post_stripe, stripe_event

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BOGUS = "Basic " + base64.b64encode(b"admin:wrong").decode()


@override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET], CC_SIGNALS={})
def test_a_client_blocked_for_bad_credentials_still_delivers_webhooks(client, settings):
    for _ in range(settings.CC_AUTH_FAILURE_LIMIT):
        assert client.get("/core/signals/", HTTP_AUTHORIZATION=BOGUS).status_code == 401
    assert client.get("/core/signals/", HTTP_AUTHORIZATION=BOGUS).status_code == 429
    body = stripe_event(obj=payment_intent(pi_id="pi_TH1", order="TH-1"))
    client.defaults["HTTP_AUTHORIZATION"] = BOGUS
    response = post_stripe(client, body)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "received"
