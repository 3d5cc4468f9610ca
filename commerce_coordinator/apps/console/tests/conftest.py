"""Console fixtures: orders made the real way (a signed Stripe webhook through payments and lms, tasks in
process) against the fake LMS of the lms app's tests, and staff / non-staff users."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client, override_settings

from commerce_coordinator.apps.lms.models import Order
from commerce_coordinator.apps.lms.tests.conftest import fake_lms  # noqa: F401  (a fixture)
from commerce_coordinator.apps.payments.models import WebhookEvent
from commerce_coordinator.apps.payments.tests.helpers import STRIPE_SECRET, payment_intent, post_stripe, stripe_event

COURSE_A, COURSE_B = "course-v1:edX+Console+A", "course-v1:edX+Console+B"


@dataclass
class PaidOrder:
    order: Order
    event: WebhookEvent

    @property
    def number(self) -> str:
        return self.order.order_number


@pytest.fixture
def pay(fake_lms):  # noqa: F811
    """pay(order_number, user, keys) -> PaidOrder: a signed payment_intent.succeeded, processed in process."""

    def pay(order_number="CON-1", user="4242", keys=(COURSE_A, COURSE_B)) -> PaidOrder:
        obj = payment_intent(pi_id=f"pi_{order_number}", order=order_number, user=user, keys=",".join(keys))
        body = stripe_event(obj=obj, event_id=f"evt_{order_number}")
        with override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
            assert post_stripe(Client(), body).status_code < 300
        return PaidOrder(
            Order.objects.get(order_number=order_number), WebhookEvent.objects.get(event_id=f"evt_{order_number}")
        )

    return pay


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("operator", "op@example.invalid", "pw", is_staff=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("learner", "learner@example.invalid", "pw")


# --- the browser (pytest-playwright driving Debian's Chromium) ----------------------------------

CHROMIUM = os.environ.get("CC_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch the system Chromium (Playwright's own browser download is not used); fail in CI, skip elsewhere,
    when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CC_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's sync API keeps an event loop in this thread; Django would refuse the ORM calls the tests
    # (and the fixtures after them) make from it. The tests are synchronous code: allow it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


def log_in(page, live_server, user) -> None:
    """Give the browser a session of `user` (made by Django's test client, no password typed)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


@pytest.fixture
def staff_page(page, live_server, staff_user):
    log_in(page, live_server, staff_user)
    page.set_default_timeout(10_000)
    return page
