"""Stripe webhooks end to end (tasks run in process): verify, store once, process, signal."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from ..models import WebhookEvent
from .helpers import (
    STRIPE_OLD_SECRET,
    STRIPE_SECRET,
    charge,
    payment_intent,
    post_stripe,
    stripe_event,
    stripe_signature,
)

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_payment_succeeded_is_stored_processed_and_signalled_once(client, calls, on_commit):
    body = stripe_event("payment_intent.succeeded", payment_intent(), event_id="evt_ok_1")
    response = on_commit(post_stripe, client, body)

    assert response.status_code == 200
    assert response.json() == {"status": "received", "event_id": "evt_ok_1"}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.type) == ("stripe", "evt_ok_1", "payment_intent.succeeded")
    assert event.payload == json.loads(body)
    assert event.status == "done" and event.attempts == 1 and event.finished_at
    assert calls == [
        (
            "payment_succeeded",
            {
                "order_number": "ORD-1",
                "lms_user_id": 42,
                "lms_username": "",
                "course_run_keys": ["course-v1:edX+A+1", "course-v1:edX+B+2"],
                "amount": Decimal("49.00"),
                "currency": "USD",
                "provider": "stripe",
                "payment_id": "pi_1",
            },
        )
    ]
    # The send is recorded under the event's own trace id.
    send = TraceNode.objects.get(trace_id=event.trace_id, kind="send")
    assert send.name.endswith("payments.signals.payment_succeeded")


def test_a_repeated_event_is_acknowledged_and_not_processed_again(client, calls, on_commit):
    body = stripe_event(event_id="evt_dup")
    first = on_commit(post_stripe, client, body)
    second = on_commit(post_stripe, client, body)
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert len(calls) == 1


def test_an_unhandled_event_type_is_acknowledged_and_stored_as_ignored(client, calls, on_commit):
    response = on_commit(post_stripe, client, stripe_event("customer.created", {"id": "cus_1"}, event_id="evt_ign"))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get().status == "ignored"
    assert calls == []


def test_payment_failed_carries_the_reason(client, calls, on_commit):
    obj = payment_intent(
        pi_id="pi_f", last_payment_error={"code": "card_declined", "message": "Your card was declined."}
    )
    on_commit(post_stripe, client, stripe_event("payment_intent.payment_failed", obj))
    [(name, kwargs)] = calls
    assert name == "payment_failed"
    assert kwargs["reason"] == "Your card was declined." and kwargs["payment_id"] == "pi_f"


def test_zero_decimal_currency_amount(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event(obj=payment_intent(amount=5000, currency="jpy")))
    assert calls[0][1]["amount"] == Decimal("5000") and calls[0][1]["currency"] == "JPY"


def test_any_of_several_secrets_verifies_during_a_rotation(client, calls, settings, on_commit):
    settings.STRIPE_WEBHOOK_SECRETS = [STRIPE_SECRET, STRIPE_OLD_SECRET]
    assert on_commit(post_stripe, client, stripe_event(), secret=STRIPE_OLD_SECRET).status_code == 200
    assert on_commit(post_stripe, client, stripe_event(), secret=STRIPE_SECRET).status_code == 200
    settings.STRIPE_WEBHOOK_SECRETS = [STRIPE_SECRET]
    response = on_commit(post_stripe, client, stripe_event(), secret=STRIPE_OLD_SECRET)
    assert response.status_code == 400 and response.json()["error"] == "bad_signature"
    assert WebhookEvent.objects.count() == 2 and len(calls) == 2


def _rejected(response, status, code, mentions=""):
    assert response.status_code == status, response.content
    data = response.json()
    assert data["error"] == code, data
    assert mentions in data["detail"]
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "case, status, code, mentions",
    [
        ("no_header", 400, "missing_signature", "Stripe-Signature"),
        ("bad_signature", 400, "bad_signature", "does not verify"),
        ("wrong_secret", 400, "bad_signature", "does not verify"),
        ("garbage_header", 400, "bad_signature", "does not verify"),
        ("old_timestamp", 400, "stale_timestamp", "older than 300 s"),
        ("future_timestamp", 400, "stale_timestamp", "future"),
        ("not_json", 400, "malformed_body", "not valid JSON"),
        ("json_array", 400, "malformed_body", "JSON object"),
        ("no_event_id", 400, "missing_field", "'id'"),
        ("too_deep", 400, "malformed_body", "nested deeper"),
        ("too_large", 413, "body_too_large", "1048576"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem_and_nothing_is_stored(
    client, calls, on_commit, case, status, code, mentions
):
    body = stripe_event()
    signature = None
    if case == "no_header":
        signature = ""
    elif case == "bad_signature":
        signature = stripe_signature(body).replace("v1=", "v1=0")
    elif case == "wrong_secret":
        signature = stripe_signature(body, "whsec_someone_else")
    elif case == "garbage_header":
        signature = "t=abc,v1"
    elif case == "old_timestamp":
        signature = stripe_signature(body, timestamp=int(time.time()) - 301)
    elif case == "future_timestamp":
        signature = stripe_signature(body, timestamp=int(time.time()) + 3600)
    elif case == "not_json":
        body = b"event=payment_intent.succeeded"
    elif case == "json_array":
        body = b"[1, 2]"
    elif case == "no_event_id":
        event = json.loads(body)
        del event["id"]
        body = json.dumps(event).encode()
    elif case == "too_deep":
        body = stripe_event(obj={**payment_intent(), "nested": json.loads("[" * 80 + "]" * 80)})
    elif case == "too_large":
        body = stripe_event(obj={**payment_intent(), "padding": "x" * (1024 * 1024)})
    response = on_commit(post_stripe, client, body, signature=signature)
    _rejected(response, status, code, mentions)
    assert calls == []


def test_get_is_a_json_405(client):
    response = client.get("/payments/webhooks/stripe/")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_unknown_provider_is_a_json_404(client):
    response = client.post("/payments/webhooks/paypal/", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_refund_after_its_payment_takes_the_order_from_the_payment(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_r", order="ORD-R")))
    on_commit(post_stripe, client, stripe_event("charge.refunded", charge(pi_id="pi_r", amount_refunded=1000)))
    assert [name for name, _ in calls] == ["payment_succeeded", "payment_refunded"]
    refund = calls[1][1]
    assert refund["order_number"] == "ORD-R" and refund["lms_user_id"] == 42
    assert refund["amount"] == Decimal("10.00") and refund["payment_id"] == "pi_r"
    assert refund["course_run_keys"] == [] and refund["full_refund"] is True  # the helper's charge is refunded: true


def test_refund_before_its_payment_waits_and_is_applied_after_it(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event("charge.refunded", charge(pi_id="pi_early"), event_id="evt_refund"))
    refund = WebhookEvent.objects.get(event_id="evt_refund")
    # In process its retries run at once, so it gives up waiting; the payment wakes it all the same.
    assert refund.status in ("retry", "failed") and "waiting for its payment: pi_early" in refund.last_error
    assert calls == []

    on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_early", order="ORD-E")))
    assert [name for name, _ in calls] == ["payment_succeeded", "payment_refunded"]
    assert calls[1][1]["order_number"] == "ORD-E"
    refund.refresh_from_db()
    assert refund.status == "done" and refund.attempts > 1


def test_a_relay_batch_wakes_the_refunds_of_its_payments_with_one_look_up(client, calls, on_commit):
    from ..tasks import process_webhook_events

    for pi in ("pi_w1", "pi_w2"):
        on_commit(post_stripe, client, stripe_event("charge.refunded", charge(pi_id=pi), event_id=f"evt_r_{pi}"))
    for pi in ("pi_w1", "pi_w2"):  # stored, not processed yet: their relay batch runs below
        post_stripe(client, stripe_event(obj=payment_intent(pi_id=pi, order=f"ORD-{pi}"), event_id=f"evt_p_{pi}"))
    payments = WebhookEvent.objects.filter(event_id__startswith="evt_p_").order_by("pk")
    batch = [[event.pk, event.trace_id, True] for event in payments]
    with CaptureQueriesContext(connection) as queries:
        on_commit(process_webhook_events.apply, args=[batch])

    assert [name for name, _ in calls] == ["payment_succeeded"] * 2 + ["payment_refunded"] * 2
    assert {kwargs["order_number"] for name, kwargs in calls if name == "payment_refunded"} == {
        "ORD-pi_w1",
        "ORD-pi_w2",
    }
    look_ups = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "'payment_refunded'" in q["sql"]
    ]
    assert len(look_ups) == 1 and "pi_w1" in look_ups[0] and "pi_w2" in look_ups[0]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}
    for payment in payments:  # each woken refund's run is in its own payment's trace, as one woken at once
        refund_sends = TraceNode.objects.filter(trace_id=payment.trace_id, kind="send", name__endswith="_refunded")
        assert refund_sends.count() == 1


def test_a_refund_whose_wake_was_lost_with_its_worker_is_woken_by_the_sweep(client, calls, on_commit, settings):
    from commerce_coordinator.apps.core import durable

    on_commit(post_stripe, client, stripe_event("charge.refunded", charge(pi_id="pi_lost"), event_id="evt_r_lost"))
    refund = WebhookEvent.objects.get(event_id="evt_r_lost")
    WebhookEvent.objects.filter(pk=refund.pk).update(status="failed")  # it gave up waiting
    post_stripe(client, stripe_event(obj=payment_intent(pi_id="pi_lost", order="ORD-L"), event_id="evt_p_lost"))
    payment = WebhookEvent.objects.get(event_id="evt_p_lost")  # processed; its worker died before the wake:
    WebhookEvent.objects.filter(pk=payment.pk).update(status="done", signal="payment_succeeded")
    assert refund.pk not in [e.pk for e in WebhookEvent.stalled()]  # not before the sweep's wait

    later = timezone.now() + timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER + 5)
    assert [e.pk for e in WebhookEvent.stalled(later)] == [refund.pk]
    WebhookEvent.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert on_commit(durable.sweep) == {"payments.webhookevent": 1}
    refund.refresh_from_db()
    assert refund.status == "done" and [name for name, _ in calls] == ["payment_refunded"]
    assert calls[0][1]["order_number"] == "ORD-L"


def test_refund_whose_payment_never_comes_ends_failed_with_the_reason(client, calls, settings, on_commit):
    from ..tasks import process_webhook_event

    settings.PAYMENTS_RETRY_SCHEDULE = [1, 1]
    on_commit(post_stripe, client, stripe_event("charge.refunded", charge(pi_id="pi_never"), event_id="evt_lost"))
    refund = WebhookEvent.objects.get(event_id="evt_lost")
    for _ in range(3):  # what another delivery of its task would do
        process_webhook_event.apply(args=[refund.pk])
    refund.refresh_from_db()
    assert refund.status == "failed" and refund.next_attempt_at is None and refund.attempts == 3
    assert "pi_never" in refund.last_error and "retries exhausted after 3 attempts" in refund.last_error
    assert calls == []


def test_event_ids_that_differ_only_in_case_are_two_events(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_Case"), event_id="evt_Case"))
    response = on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_case"), event_id="evt_case"))
    assert response.json()["status"] == "received"
    assert WebhookEvent.objects.count() == 2
    assert sorted(kwargs["payment_id"] for _, kwargs in calls) == ["pi_Case", "pi_case"]
