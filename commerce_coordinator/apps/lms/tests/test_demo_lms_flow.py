"""The whole local flow against the demo LMS on a live server: payment signal -> order -> LMS client
(OAuth2 client credentials + HTTP) -> demo LMS enrollment API. The demo LMS is reached only over HTTP
and by command name, as another service would be (plugin apps never import one another)."""

import io

import pytest
import requests
from django.core.management import call_command
from django.test import override_settings

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms.clients import LmsApiClient
from commerce_coordinator.apps.lms.models import Order

from .conftest import clear_token_cache
from .fake_payments import CC_SIGNALS, pay, refund

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)

KEYS = ["course-v1:edX+DemoX+Demo_Course", "course-v1:edX+E2E+2026"]


@pytest.fixture
def demo_lms(live_server):
    call_command("provision_demo_lms", client_id="cc-live", client_secret="cc-live-secret", stdout=io.StringIO())
    clear_token_cache()
    with override_settings(
        CC_SIGNALS=CC_SIGNALS,
        LMS_URL_ROOT=live_server.url + "/demo_lms",
        LMS_OAUTH_URL="",
        LMS_OAUTH_CLIENT_ID="cc-live",
        LMS_OAUTH_CLIENT_SECRET="cc-live-secret",
    ):
        yield live_server.url + "/demo_lms"
    clear_token_cache()


def demo_enrollments(url_root, user):
    client = LmsApiClient()
    response = client.session.get(url_root + "/api/enrollment/v1/enrollment", params={"user": user}, timeout=5)
    assert response.status_code == 200, response.text
    return sorted((e["course_details"]["course_id"], e["mode"], e["is_active"]) for e in response.json())


def test_paid_order_ends_in_demo_enrollments_and_a_refund_unenrolls(demo_lms):
    result = pay(order_number="LIVE-1", keys=KEYS, user=3)
    assert result.ok
    order = Order.objects.get(order_number="LIVE-1")
    assert order.status == "fulfilled"
    assert demo_enrollments(demo_lms, "3") == [(KEYS[0], "verified", True), (KEYS[1], "verified", True)]
    # The order's two lines went in one message: one task, a work span per line.
    assert TraceNode.objects.filter(trace_id=result.trace_id, kind="task", status="ok").count() == 1
    assert TraceNode.objects.filter(trace_id=result.trace_id, kind="work", status="ok").count() == 2

    refund(order_number="LIVE-1", keys=KEYS, user=3)
    assert demo_enrollments(demo_lms, "3") == [(KEYS[0], "verified", False), (KEYS[1], "verified", False)]
    assert Order.objects.get(order_number="LIVE-1").status == "refunded"


def test_a_course_key_the_demo_lms_refuses_fails_the_line_with_its_message(demo_lms):
    pay(order_number="LIVE-2", keys=["course-v1:edX+DemoX+Demo_Course", "not-a-course"], user=4)
    order = Order.objects.get(order_number="LIVE-2")
    good, bad = order.lines.all()
    assert good.state == "fulfilled"
    assert (bad.state, bad.last_status_code, bad.attempts) == ("failed", 400, 1)
    assert "Course ID must be specified" in bad.last_error
    assert order.status == "failed"


def test_the_demo_lms_refuses_a_wrong_client_secret_without_retrying(demo_lms):
    with override_settings(LMS_OAUTH_CLIENT_SECRET="wrong"):
        clear_token_cache()
        pay(order_number="LIVE-3", keys=KEYS[:1], user=5)
    line = Order.objects.get(order_number="LIVE-3").lines.get()
    assert (line.state, line.last_status_code, line.attempts) == ("failed", 401, 1)
    assert requests.get(demo_lms + "/api/enrollment/v1/enrollment", timeout=5).status_code == 401
