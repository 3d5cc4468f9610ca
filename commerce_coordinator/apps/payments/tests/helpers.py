"""Payloads signed exactly as each provider signs them."""

import hashlib
import hmac
import json
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlencode

from django.conf import settings

from commerce_coordinator.apps.core import testing

from ..providers.cloudpayments import sign as cp_sign

STRIPE_SECRET = "whsec_test_secret"
STRIPE_OLD_SECRET = "whsec_previous_secret"
CP_SECRET = "cp_test_api_secret"
STRIPE_URL = "/payments/webhooks/stripe/"


def cp_url(kind):
    return f"/payments/webhooks/cloudpayments/{kind}/"


def stripe_signature(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>, computed here by hand."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payment_intent(
    pi_id="pi_1",
    order="ORD-1",
    user="42",
    keys="course-v1:edX+A+1,course-v1:edX+B+2",
    amount=4900,
    currency="usd",
    **extra,
):
    obj = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
        "metadata": {"order_number": order, "lms_user_id": user, "course_run_keys": keys},
    }
    obj.update(extra)
    return obj


def charge(pi_id="pi_1", amount_refunded=4900, currency="usd", metadata=None):
    return {
        "id": "ch_" + pi_id,
        "object": "charge",
        "payment_intent": pi_id,
        "amount": 4900,
        "amount_refunded": amount_refunded,
        "currency": currency,
        "refunded": True,
        "metadata": metadata or {},
    }


def stripe_event(event_type="payment_intent.succeeded", obj=None, event_id=None) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj if obj is not None else payment_intent()},
    }
    return json.dumps(event).encode()


def post_stripe(client, body: bytes, secret=STRIPE_SECRET, timestamp=None, signature=None):
    sig = signature if signature is not None else stripe_signature(body, secret, timestamp)
    headers = {"HTTP_STRIPE_SIGNATURE": sig} if sig else {}
    return client.post(STRIPE_URL, data=body, content_type="application/json", **headers)


def cp_pay_fields(
    transaction_id=1001,
    invoice="ORD-CP-1",
    account="77",
    amount="1500.00",
    currency="RUB",
    keys=("course-v1:edX+C+3",),
    **extra,
):
    fields = {
        "TransactionId": str(transaction_id),
        "Amount": amount,
        "Currency": currency,
        "InvoiceId": invoice,
        "AccountId": account,
        "DateTime": "2026-11-22 10:00:00",
        "CardFirstSix": "424242",
        "CardLastFour": "4242",
        "Email": "learner@example.invalid",
        "Status": "Completed",
        "OperationType": "Payment",
        "TestMode": "0",
        "Data": json.dumps({"course_run_keys": list(keys)}),
    }
    fields.update(extra)
    return fields


def post_cp(client, kind, fields, secret=CP_SECRET, as_json=False, header="HTTP_CONTENT_HMAC", signature=None):
    if as_json:
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    sig = signature if signature is not None else cp_sign(body, secret)
    headers = {header: sig} if sig else {}
    return client.post(cp_url(kind), data=body, content_type=content_type, **headers)


@contextmanager
def payments_tasks_routed_to(queue: str):
    """Route this process's payments tasks to a test worker's queue (the shipped routes send them to
    PAYMENTS_CELERY_QUEUE, which a test worker, on a queue of its own, does not consume)."""
    from commerce_coordinator.celery import app

    def use(routes):
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)  # the cached Router keeps the routes it was made with

    saved = app.conf.task_routes
    use({name: {"queue": queue} for name in settings.PAYMENTS_TASK_ROUTES})
    try:
        yield
    finally:
        use(saved)


@contextmanager
def payments_worker(pool: str = "solo", extra_args=(), one_queue: bool = False):
    """A real Celery worker on Redis that receives the payments tasks this process publishes (`one_queue`: the
    worker routes its payments tasks to its one queue too, as a single-queue deployment does)."""
    queue_settings = ("PAYMENTS_CELERY_QUEUE",) if one_queue else ()
    with testing.celery_worker(pool=pool, extra_args=extra_args, queue_settings=queue_settings) as worker:
        with payments_tasks_routed_to(worker.queue):
            yield worker
