"""The providers' real payload shapes (tests/fixtures/, see its README) through the real endpoints, signed as
the providers sign: events that name no order are acknowledged and stored as unroutable (then replayed with
corrected metadata), partial refunds, Checkout Sessions, currencies' exponents, CloudPayments' check,
two-stage payments, voids, subscriptions and e-mail account ids, and the cap on course runs per event."""

import copy
import json
import logging
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from commerce_coordinator.apps.core.models import Trace, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from ..models import WebhookEvent
from ..redaction import REDACTED
from .helpers import post_cp, post_stripe

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
FIXTURES = settings.BASE_DIR / "tests" / "fixtures"
ORDER = {
    "order_number": "ORD-FX-1",
    "lms_user_id": "42",
    "course_run_keys": "course-v1:edX+FX1+2026,course-v1:edX+FX2+2026",
}


def fixture(provider: str, name: str) -> dict:
    return copy.deepcopy(json.loads((FIXTURES / provider / f"{name}.json").read_text()))


def stripe_body(event_type: str, obj: dict, event_id: str, **envelope) -> bytes:
    """The event envelope of Stripe's own fixture around an object, as a webhook delivers it."""
    event = fixture("stripe", "event")
    event.update(id=event_id, type=event_type, created=int(time.time()), api_version="2024-06-20", **envelope)
    event["data"] = {**envelope.get("data", {}), "object": obj}
    return json.dumps(event).encode()


def paid_intent(pi_id="pi_fx_paid", amount=10000, currency="usd", metadata=None) -> dict:
    obj = fixture("stripe", "payment_intent")
    obj.update(id=pi_id, amount=amount, amount_received=amount, currency=currency, status="succeeded")
    obj.update(last_payment_error=None, metadata=dict(ORDER) if metadata is None else metadata)
    return obj


def stored(event_id: str) -> WebhookEvent:
    return WebhookEvent.objects.get(event_id=event_id)


# --- Stripe: events that name no order of this service ------------------------------------------------------


def test_a_payment_intent_without_our_metadata_is_acknowledged_stored_unroutable_traced_and_listed(
    client, admin_client, staff_client, calls, on_commit
):
    body = stripe_body("payment_intent.succeeded", paid_intent(metadata={}), "evt_fx_foreign")
    response = on_commit(post_stripe, client, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "unroutable" and "data.object.metadata.order_number" in answer["reason"]
    event = stored("evt_fx_foreign")
    assert event.status == "unroutable" and "data.object.metadata.order_number" in event.last_error and calls == []
    listing = admin_client.get("/admin/payments/webhookevent/?status__exact=unroutable")
    assert (
        listing.status_code == 200
        and b"evt_fx_foreign" in listing.content
        and b"metadata.order_number" in listing.content
    )
    trace = Trace.objects.with_status().get(trace_id=event.trace_id)
    assert trace.trace_status == "error" and trace.title == "payment_intent.succeeded"
    found = staff_client.get("/core/traces/?status=error&event=evt_fx_foreign&payment_id=pi_fx_paid")
    assert found.status_code == 200 and event.trace_id in found.content.decode()


def test_an_unroutable_payment_is_replayed_with_corrected_metadata_stored_on_the_event(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", paid_intent(metadata={}), "evt_fx_fix"))
    out = StringIO()
    on_commit(
        call_command,
        "replay_webhook_events",
        "--id",
        "evt_fx_fix",
        "--force",
        "--set-metadata",
        "order_number=ORD-FIXED",
        "--set-metadata",
        "lms_user_id=9001",
        "--set-metadata",
        "course_run_keys=course-v1:edX+FIX+2026",
        "--reason",
        "a payment link without metadata; order from the support ticket",
        stdout=out,
    )
    assert "replayed (was unroutable)" in out.getvalue()
    event = stored("evt_fx_fix")
    assert event.status == "done" and event.order_number == "ORD-FIXED" and event.last_error == ""
    assert event.metadata_override == {
        "order_number": "ORD-FIXED",
        "lms_user_id": "9001",
        "course_run_keys": "course-v1:edX+FIX+2026",
    }
    [(name, kwargs)] = calls
    assert name == "payment_succeeded" and kwargs["order_number"] == "ORD-FIXED" and kwargs["lms_user_id"] == 9001
    assert kwargs["course_run_keys"] == ["course-v1:edX+FIX+2026"] and kwargs["amount"] == Decimal("100.00")
    audit = WorkAudit.objects.get(item_id=str(event.pk))
    assert audit.reason.startswith("a payment link") and audit.action == "replay"


def test_a_replay_without_the_missing_metadata_stays_unroutable(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_body("payment_intent.payment_failed", paid_intent(metadata={}), "evt_fx_f"))
    assert stored("evt_fx_f").status == "unroutable"
    on_commit(
        call_command,
        "replay_webhook_events",
        "--id",
        "evt_fx_f",
        "--set-metadata",
        "order_number=O-2",
        stdout=StringIO(),
    )
    event = stored("evt_fx_f")
    assert event.status == "unroutable" and "lms_user_id" in event.last_error and calls == []


def test_a_refund_of_a_charges_api_charge_is_unroutable_with_the_reason(client, calls, on_commit):
    charge = fixture("stripe", "charge")
    charge.update(amount_refunded=charge["amount"], refunded=True)
    assert charge["payment_intent"] is None  # Stripe's own example: a charge made without a PaymentIntent
    response = on_commit(post_stripe, client, stripe_body("charge.refunded", charge, "evt_fx_ch"))
    assert response.status_code == 200 and response.json()["status"] == "unroutable"
    event = stored("evt_fx_ch")
    assert event.status == "unroutable" and "payment_intent" in event.last_error and calls == []


def test_past_the_course_run_cap_an_event_is_unroutable_with_the_reason(client, calls, settings, on_commit):
    settings.PAYMENTS_MAX_COURSE_RUNS_PER_EVENT = 3
    keys = ",".join(f"course-v1:edX+C{n}+2026" for n in range(4))
    obj = paid_intent(metadata={**ORDER, "course_run_keys": keys})
    response = on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", obj, "evt_fx_cap"))
    assert response.status_code == 200 and response.json()["status"] == "unroutable"
    assert "4 course runs, more than PAYMENTS_MAX_COURSE_RUNS_PER_EVENT (3)" in stored("evt_fx_cap").last_error
    assert calls == []


# --- Stripe: refunds, sessions, currencies ------------------------------------------------------------------


def _refunded_charge(pi_id, amount, total_refunded, refunded, refund_amount, refund_metadata=None):
    charge = fixture("stripe", "charge")
    refund = fixture("stripe", "refund")
    refund.update(amount=refund_amount, charge=charge["id"], payment_intent=pi_id, metadata=refund_metadata or {})
    charge.update(payment_intent=pi_id, amount=amount, amount_captured=amount, amount_refunded=total_refunded)
    charge.update(refunded=refunded, currency="usd", metadata={})
    charge["refunds"]["data"] = [refund]
    return charge


def test_a_partial_refund_names_its_course_runs_and_is_not_full_then_the_rest_is_full(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", paid_intent(pi_id="pi_fx_part"), "evt_fx_p"))
    partial = _refunded_charge("pi_fx_part", 10000, 3000, False, 3000, {"course_run_keys": "course-v1:edX+FX2+2026"})
    on_commit(post_stripe, client, stripe_body("charge.refunded", partial, "evt_fx_r1"))
    rest = _refunded_charge("pi_fx_part", 10000, 10000, True, 7000)
    body = stripe_body("charge.refunded", rest, "evt_fx_r2", data={"previous_attributes": {"amount_refunded": 3000}})
    on_commit(post_stripe, client, body)
    assert [name for name, _ in calls] == ["payment_succeeded", "payment_refunded", "payment_refunded"]
    first, second = calls[1][1], calls[2][1]
    assert first["full_refund"] is False and first["amount"] == Decimal("30.00")
    assert first["course_run_keys"] == ["course-v1:edX+FX2+2026"]
    assert first["order_number"] == "ORD-FX-1" and first["lms_user_id"] == 42 and first["currency"] == "USD"
    assert second["full_refund"] is True and second["amount"] == Decimal("70.00") and second["course_run_keys"] == []


def test_a_partial_refund_naming_no_course_run_sends_the_amount_only(client, calls, on_commit):
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", paid_intent(pi_id="pi_fx_amt"), "evt_fx_a"))
    charge = _refunded_charge("pi_fx_amt", 10000, 2500, False, 2500)
    on_commit(post_stripe, client, stripe_body("charge.refunded", charge, "evt_fx_a_r"))
    refund = calls[-1][1]
    assert refund["full_refund"] is False and refund["course_run_keys"] == [] and refund["amount"] == Decimal("25.00")


def _session(payment_status: str, pi_id="pi_fx_cs") -> dict:
    session = fixture("stripe", "checkout.session")
    session.update(payment_status=payment_status, status="complete", amount_total=10000, currency="usd")
    session.update(payment_intent=pi_id, metadata=dict(ORDER))
    return session


@pytest.mark.parametrize("event_type", ["checkout.session.completed", "checkout.session.async_payment_succeeded"])
def test_a_paid_checkout_session_is_a_payment_of_the_same_order_as_its_payment_intent(
    client, calls, on_commit, event_type
):
    on_commit(post_stripe, client, stripe_body(event_type, _session("paid"), "evt_fx_cs"))
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", paid_intent(pi_id="pi_fx_cs"), "evt_fx_pi"))
    (_, by_session), (_, by_intent) = calls
    assert by_session["order_number"] == by_intent["order_number"] == "ORD-FX-1"  # the LMS fulfils it once
    assert by_session["payment_id"] == by_intent["payment_id"] == "pi_fx_cs"
    assert by_session["amount"] == Decimal("100.00") and by_session["course_run_keys"] == by_intent["course_run_keys"]


def test_an_unpaid_checkout_session_waits_for_its_async_payment(client, calls, on_commit):
    response = on_commit(post_stripe, client, stripe_body("checkout.session.completed", _session("unpaid"), "evt_fx_u"))
    assert response.json()["status"] == "ignored" and "unpaid" in stored("evt_fx_u").last_error and calls == []
    on_commit(
        post_stripe, client, stripe_body("checkout.session.async_payment_succeeded", _session("paid"), "evt_fx_ok")
    )
    assert [name for name, _ in calls] == ["payment_succeeded"]


@pytest.mark.parametrize(
    "currency, minor, major",
    [
        ("kwd", 1234, "1.234"),
        ("bhd", 1, "0.001"),
        ("jod", 5000, "5.000"),
        ("omr", 10, "0.010"),
        ("tnd", 999, "0.999"),
        ("jpy", 5000, "5000"),
        ("krw", 15000, "15000"),
        ("vnd", 250000, "250000"),
        ("usd", 4999, "49.99"),
    ],
)
def test_amounts_keep_every_digit_of_their_currency(client, calls, on_commit, currency, minor, major):
    obj = paid_intent(pi_id=f"pi_fx_{currency}", amount=minor, currency=currency)
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", obj, f"evt_fx_{currency}"))
    [(_, kwargs)] = calls
    assert kwargs["currency"] == currency.upper()
    assert kwargs["amount"] == Decimal(major) and str(kwargs["amount"]) == major  # exact, with its exponent


# --- CloudPayments ------------------------------------------------------------------------------------------


def cp(name: str, **changes) -> dict:
    fields = fixture("cloudpayments", name)
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def test_check_accepts_a_payment_the_service_can_fulfil(client, calls, on_commit):
    response = on_commit(post_cp, client, "check", cp("check"))
    assert response.status_code == 200 and response.json() == {"code": 0}
    assert stored("check:1211506522").status == "ignored" and calls == []


@pytest.mark.parametrize(
    "changes, code, mentions",
    [
        ({"Data": None}, 13, "Data.course_run_keys"),
        ({"InvoiceId": None}, 10, "InvoiceId"),
        ({"AccountId": None}, 11, "AccountId"),
        ({"Amount": None}, 12, "Amount"),
    ],
)
def test_check_declines_what_the_service_cannot_fulfil_with_the_reason_stored_and_logged(
    client, calls, on_commit, caplog, changes, code, mentions
):
    with caplog.at_level(logging.WARNING, logger="commerce_coordinator.apps.payments"):
        response = on_commit(post_cp, client, "check", cp("check", **changes))
    assert response.status_code == 200 and response.json() == {"code": code}
    event = stored("check:1211506522")
    assert event.status == "unroutable" and mentions in event.last_error
    assert mentions in caplog.text and "unroutable" in caplog.text and calls == []


def test_a_two_stage_payment_enrolls_on_its_confirm_not_on_the_authorization(client, calls, on_commit):
    assert on_commit(post_cp, client, "pay", cp("pay_authorized")).json() == {"code": 0}
    assert stored("pay:1211506522").status == "ignored" and calls == []
    assert on_commit(post_cp, client, "confirm", cp("confirm")).json() == {"code": 0}
    [(name, kwargs)] = calls
    assert (
        name == "payment_succeeded" and kwargs["payment_id"] == "1211506522" and kwargs["amount"] == Decimal("1500.00")
    )
    assert kwargs["order_number"] == "CP-ORDER-1" and kwargs["course_run_keys"] == ["course-v1:edX+CP1+2026"]


def test_a_cancelled_authorization_is_a_full_refund_that_waits_for_nothing(client, calls, on_commit):
    on_commit(post_cp, client, "pay", cp("pay_authorized"))
    assert on_commit(post_cp, client, "cancel", cp("cancel")).json() == {"code": 0}
    [(name, kwargs)] = calls  # no payment was processed, and the void is sent all the same
    assert name == "payment_refunded" and kwargs["full_refund"] is True and kwargs["order_number"] == "CP-ORDER-1"
    assert kwargs["amount"] == Decimal("1500.00") and kwargs["currency"] == "RUB"


def test_a_partial_cloudpayments_refund_is_not_full_and_a_refund_of_it_all_is(client, calls, on_commit):
    on_commit(post_cp, client, "pay", cp("pay"))
    on_commit(post_cp, client, "refund", cp("refund"))
    on_commit(post_cp, client, "refund", cp("refund", TransactionId="1211507000", Amount="1500.00"))
    assert [name for name, _ in calls] == ["payment_succeeded", "payment_refunded", "payment_refunded"]
    assert calls[1][1]["full_refund"] is False and calls[1][1]["amount"] == Decimal("500.00")
    assert calls[1][1]["course_run_keys"] == ["course-v1:edX+CP1+2026"]  # the refund's Data names them
    assert calls[2][1]["full_refund"] is True


def test_a_subscription_change_is_stored_and_sent_as_subscription_changed(client, calls, on_commit, caplog):
    with caplog.at_level(logging.INFO):
        response = on_commit(post_cp, client, "recurrent", cp("recurrent"))
    assert response.json() == {"code": 0}
    event = WebhookEvent.objects.get()
    assert event.type == "recurrent" and event.event_id.startswith("recurrent:sc_8cf8a9338fb8ebf7202b08d09c938:PastDue")
    assert event.status == "done"
    [(name, kwargs)] = calls
    assert name == "subscription_changed" and kwargs["status"] == "PastDue" and kwargs["amount"] == Decimal("990.00")
    assert kwargs["subscription_id"] == "sc_8cf8a9338fb8ebf7202b08d09c938" and kwargs["provider"] == "cloudpayments"
    assert "learner@example.invalid" not in caplog.text
    # The same notification again (CloudPayments resends until it gets code 0) is a repeat.
    on_commit(post_cp, client, "recurrent", cp("recurrent"))
    assert WebhookEvent.objects.count() == 1 and len(calls) == 1


def test_subscription_changed_is_routed_in_the_shipped_settings():
    from commerce_coordinator.settings import base

    routes = base.CC_SIGNALS["commerce_coordinator.apps.payments.signals.subscription_changed"]
    assert routes == [
        "commerce_coordinator.apps.payments.receivers.log_subscription_event",
        "commerce_coordinator.apps.subscriptions.receivers.reconcile_provider_subscription",
    ]


def test_an_e_mail_account_id_is_the_lms_username_and_never_logged_in_clear(client, calls, on_commit, caplog, settings):
    settings.CC_SIGNALS = {
        **settings.CC_SIGNALS,
        "commerce_coordinator.apps.payments.signals.payment_succeeded": [
            "commerce_coordinator.apps.payments.receivers.log_payment_event",
            "commerce_coordinator.apps.payments.tests.receivers.record_succeeded",
        ],
    }
    with caplog.at_level(logging.DEBUG):
        response = on_commit(post_cp, client, "pay", cp("pay", AccountId="Learner.One@example.invalid"))
    assert response.json() == {"code": 0}
    [(_, kwargs)] = calls
    assert kwargs["lms_user_id"] is None and kwargs["lms_username"] == "Learner.One@example.invalid"
    assert "example.invalid" not in caplog.text and "[e-mail]" in caplog.text


def test_json_bodies_are_read_like_form_bodies(client, calls, on_commit):
    on_commit(post_cp, client, "pay", cp("pay"), as_json=True)
    assert calls[0][1]["course_run_keys"] == ["course-v1:edX+CP1+2026"]


def test_the_admin_hides_client_secrets_and_tokens_of_the_stored_payload(admin_client, client, calls, on_commit):
    intent = paid_intent(pi_id="pi_fx_secret")
    assert intent["client_secret"].startswith("pi_")  # Stripe's own example carries one
    on_commit(post_stripe, client, stripe_body("payment_intent.succeeded", intent, "evt_fx_secret"))
    on_commit(post_cp, client, "pay", cp("pay"))
    for event in WebhookEvent.objects.all():
        page = admin_client.get(f"/admin/payments/webhookevent/{event.pk}/change/").content.decode()
        assert intent["client_secret"] not in page and "tk_020e5e5ed4b3e6e4d2c79d8b2d5e8e5a" not in page
        assert REDACTED in page and "learner@example.invalid" not in page


def test_a_void_that_names_no_order_nor_has_an_authorization_is_unroutable(client, calls, on_commit):
    on_commit(post_cp, client, "cancel", cp("cancel", InvoiceId=None, TransactionId="777"))
    event = stored("cancel:777")
    assert event.status == "unroutable" and "names no order" in event.last_error and calls == []
