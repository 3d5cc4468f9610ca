"""CloudPayments notifications: Content-HMAC over the raw body, form and JSON bodies, {"code": 0}."""

import json
from decimal import Decimal

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from ..models import WebhookEvent
from ..providers.cloudpayments import sign
from .helpers import CP_SECRET, cp_pay_fields, cp_url, post_cp

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_form_encoded_pay_notification(client, calls, on_commit):
    response = on_commit(post_cp, client, "pay", cp_pay_fields())
    assert response.status_code == 200 and response.json() == {"code": 0}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.type, event.status) == (
        "cloudpayments",
        "pay:1001",
        "pay",
        "done",
    )
    assert calls == [
        (
            "payment_succeeded",
            {
                "order_number": "ORD-CP-1",
                "lms_user_id": 77,
                "lms_username": "",
                "course_run_keys": ["course-v1:edX+C+3"],
                "amount": Decimal("1500.00"),
                "currency": "RUB",
                "provider": "cloudpayments",
                "payment_id": "1001",
            },
        )
    ]


def test_json_pay_notification_with_x_content_hmac(client, calls, on_commit):
    fields = cp_pay_fields(transaction_id=2002, amount=10.5)
    fields["Data"] = {"course_run_keys": "course-v1:edX+D+4, course-v1:edX+E+5"}
    response = on_commit(post_cp, client, "pay", fields, as_json=True, header="HTTP_X_CONTENT_HMAC")
    assert response.status_code == 200 and response.json() == {"code": 0}
    [(_, kwargs)] = calls
    assert kwargs["amount"] == Decimal("10.5")
    assert kwargs["course_run_keys"] == ["course-v1:edX+D+4", "course-v1:edX+E+5"]


def test_x_content_hmac_over_the_url_decoded_body_is_accepted(client, calls, on_commit):
    from urllib.parse import unquote_plus, urlencode

    body = urlencode(cp_pay_fields(transaction_id=3003)).encode()
    signature = sign(unquote_plus(body.decode()).encode(), CP_SECRET)
    response = on_commit(
        client.post,
        cp_url("pay"),
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_CONTENT_HMAC=signature,
    )
    assert response.status_code == 200 and len(calls) == 1


def test_pay_without_course_runs_is_unroutable_with_the_reason_not_a_fulfilled_order(client, calls, on_commit):
    fields = cp_pay_fields()
    del fields["Data"]
    assert on_commit(post_cp, client, "pay", fields).json() == {"code": 0}
    event = WebhookEvent.objects.get()
    assert event.status == "unroutable" and "Data.course_run_keys" in event.last_error and calls == []


def test_fail_notification_carries_the_reason(client, calls, on_commit):
    fields = cp_pay_fields(transaction_id=4004, Reason="InsufficientFunds", ReasonCode="5051")
    assert on_commit(post_cp, client, "fail", fields).json() == {"code": 0}
    [(name, kwargs)] = calls
    assert name == "payment_failed" and kwargs["reason"] == "InsufficientFunds" and kwargs["payment_id"] == "4004"


def test_refund_before_its_payment_waits_then_applies(client, calls, on_commit):
    refund = {
        "TransactionId": "9009",
        "PaymentTransactionId": "5005",
        "Amount": "500.00",
        "DateTime": "2026-11-22 11:00:00",
        "OperationType": "Refund",
        "InvoiceId": "ORD-CP-5",
        "AccountId": "77",
    }
    assert on_commit(post_cp, client, "refund", refund).json() == {"code": 0}
    waiting = WebhookEvent.objects.get(event_id="refund:9009")
    # In process (no broker) its retries run at once: it gives up waiting; its payment wakes it all the same.
    assert waiting.status in ("retry", "failed") and "waiting for its payment" in waiting.last_error
    assert calls == []
    on_commit(post_cp, client, "pay", cp_pay_fields(transaction_id=5005, invoice="ORD-CP-5"))
    assert [name for name, _ in calls] == ["payment_succeeded", "payment_refunded"]
    kwargs = calls[1][1]
    assert kwargs["payment_id"] == "5005" and kwargs["amount"] == Decimal("500.00")
    assert kwargs["currency"] == "RUB" and kwargs["course_run_keys"] == []  # a refund names its runs, or none
    assert kwargs["full_refund"] is False and kwargs["order_number"] == "ORD-CP-5" and kwargs["lms_user_id"] == 77
    assert WebhookEvent.objects.get(event_id="refund:9009").status == "done"


def test_repeated_notification_is_acknowledged_once(client, calls, on_commit):
    assert on_commit(post_cp, client, "pay", cp_pay_fields()).json() == {"code": 0}
    assert on_commit(post_cp, client, "pay", cp_pay_fields()).json() == {"code": 0}
    assert WebhookEvent.objects.count() == 1 and len(calls) == 1


@pytest.mark.parametrize(
    "case, code, mentions",
    [
        ("no_header", "missing_signature", "Content-HMAC"),
        ("bad_hmac", "bad_signature", "does not match"),
        ("wrong_secret", "bad_signature", "does not match"),
        ("not_form", "malformed_body", "neither JSON nor form"),
        ("bad_json", "malformed_body", "not valid JSON"),
        ("no_transaction", "missing_field", "TransactionId"),
    ],
)
def test_bad_notifications_are_rejected_and_not_stored(client, calls, on_commit, case, code, mentions):
    fields = cp_pay_fields()
    kwargs = {}
    if case == "no_header":
        kwargs["signature"] = ""
    elif case == "bad_hmac":
        kwargs["signature"] = "AAAA" + sign(b"x", CP_SECRET)
    elif case == "wrong_secret":
        kwargs["secret"] = "someone-else"
    elif case == "no_transaction":
        del fields["TransactionId"]
    if case in ("not_form", "bad_json"):
        body = b"just some text" if case == "not_form" else b'{"TransactionId": '
        content_type = "text/plain" if case == "not_form" else "application/json"
        response = client.post(
            cp_url("pay"), data=body, content_type=content_type, HTTP_CONTENT_HMAC=sign(body, CP_SECRET)
        )
    else:
        response = on_commit(post_cp, client, "pay", fields, **kwargs)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error"] == code and data["code"] == 13 and mentions in data["detail"]
    assert WebhookEvent.objects.count() == 0 and calls == []


@pytest.mark.parametrize(
    "case, mentions",
    [
        ("no_invoice", "InvoiceId"),
        ("no_account", "AccountId"),
        ("bad_amount", "Amount"),
        ("bad_data", "Data"),
    ],
)
def test_a_signed_pay_that_names_no_order_is_acknowledged_and_stored_unroutable(
    client, calls, on_commit, case, mentions
):
    fields = cp_pay_fields()
    if case == "no_invoice":
        del fields["InvoiceId"]
    elif case == "no_account":
        del fields["AccountId"]
    elif case == "bad_amount":
        fields["Amount"] = "lots"
    elif case == "bad_data":
        fields["Data"] = "{not json"
    response = on_commit(post_cp, client, "pay", fields)
    assert response.status_code == 200 and response.json() == {"code": 0}
    event = WebhookEvent.objects.get()
    assert event.status == "unroutable" and mentions in event.last_error and calls == []


def test_unknown_kind_is_a_404(client):
    body = json.dumps(cp_pay_fields()).encode()
    response = client.post(
        cp_url("nonsense"), data=body, content_type="application/json", HTTP_CONTENT_HMAC=sign(body, CP_SECRET)
    )
    assert response.status_code == 404 and WebhookEvent.objects.count() == 0


def test_admin_shows_the_payload_without_the_e_mail(admin_client, client, calls, on_commit):
    on_commit(post_cp, client, "pay", cp_pay_fields())
    event = WebhookEvent.objects.get()
    page = admin_client.get(f"/admin/payments/webhookevent/{event.pk}/change/").content.decode()
    assert "ORD-CP-1" in page and "TransactionId" in page
    assert "learner@example.invalid" not in page and "[e-mail]" in page
