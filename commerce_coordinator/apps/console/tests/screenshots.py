"""`make screenshots`: a PNG of each console page (and the admin lists) in docs/screenshots/, from demo data
made the real way (signed webhooks, the fake LMS refusing or down, an operator retry). Not part of the suite
(pytest collects only test_*.py); run it by path, with CC_SCREENSHOTS_DIR set."""

import os
from pathlib import Path

import pytest
from django.test import Client, override_settings

from commerce_coordinator.apps.console import queries
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import operations as lms_operations
from commerce_coordinator.apps.payments.tests.helpers import STRIPE_SECRET, post_stripe, stripe_event

from .conftest import COURSE_A, COURSE_B, log_in

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
OUT = Path(os.environ.get("CC_SCREENSHOTS_DIR", "docs/screenshots"))


def seed(pay, fake_lms) -> dict:
    fake_lms.then(400).then(200).then(400)  # SUP-1001: line A refused, B enrolled, A refused again on a retry
    refused = pay("SUP-1001", user="5150", keys=[COURSE_A, COURSE_B])
    lms_operations.retry_order("SUP-1001", actor="operator", reason="LMS says the run is open again (SUP-77)")
    pay("SUP-1005", user="5150", keys=[COURSE_B])
    fake_lms.then(503, times=3 * 5)  # an LMS outage: every try of three orders fails, then they dead-letter
    for number in ("SUP-1002", "SUP-1003", "SUP-1004"):
        pay(number, user="6001", keys=[COURSE_A])
    with override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
        post_stripe(Client(), stripe_event("customer.created", obj={"id": "cus_1", "object": "customer"}))
        no_order = {
            "id": "pi_no_metadata",
            "object": "payment_intent",
            "amount": 4900,
            "currency": "usd",
            "metadata": {},
        }
        post_stripe(Client(), stripe_event(obj=no_order))  # names no order: unroutable
    Client().get("/demo_lms/test/", {"message": "screenshot"})
    error = TraceNode.objects.filter(status="error").latest("started_at")
    return {"order_trace": refused.order.trace_ids[0], "error_trace": error.trace_id}


def shoot(page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_screenshots(staff_page, live_server, pay, fake_lms, django_user_model):
    made = seed(pay, fake_lms)
    url = live_server.url
    page = staff_page
    page.goto(f"{url}/console/?q=5150")
    shoot(page, "search")
    page.goto(f"{url}/console/orders/SUP-1001/")
    shoot(page, "case-page")
    page.locator("button.retry-line").first.click()
    page.fill("#reason-input", "LMS team fixed the enrollment rule (SUP-78)")
    shoot(page, "retry-reason")
    page.click("#reason-cancel")
    page.goto(f"{url}/console/traces/{made['order_trace']}/")
    shoot(page, "trace-order")
    page.goto(f"{url}/console/traces/{made['error_trace']}/")
    page.click("#next-error")
    page.locator("tr.wf-row details.traceback summary").first.click()
    shoot(page, "trace-error")
    page.goto(f"{url}/console/attention/")
    shoot(page, "attention")
    outage = next(g for g in queries.attention() if "503" in g.title)
    page.goto(f"{url}/console/attention/{outage.key}/")
    shoot(page, "bulk-preview")
    page.goto(f"{url}/console/signals/")
    page.locator("#signal-diagram svg").wait_for(timeout=15_000)
    shoot(page, "signals")
    log_in(page, live_server, django_user_model.objects.create_superuser("root", "root@example.invalid", "pw"))
    for model in ("lms/order", "payments/webhookevent", "core/trace"):
        page.goto(f"{url}/admin/{model}/")
        shoot(page, "admin-" + model.replace("/", "-"))
