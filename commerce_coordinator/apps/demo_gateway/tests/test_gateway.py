"""The demo gateway's own rules: both providers' authentication and input errors, replay by key, its address."""

import base64

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_gateway.models import DemoCharge

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
STRIPE = "/demo_gateway/stripe/v1/payment_intents"
CP = "/demo_gateway/cloudpayments/payments/tokens/charge"
BEARER = {"HTTP_AUTHORIZATION": "Bearer sk_test_x"}
BASIC = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"pk_x:secret").decode()}


def test_stripe_answers_in_its_shapes_and_replays_a_repeated_key(client):
    assert client.post(STRIPE, {"amount": "100"}).status_code == 401
    assert client.post(STRIPE, {"amount": "x", "currency": "usd"}, **BEARER).status_code == 400
    unknown = client.post(STRIPE, {"amount": "100", "currency": "usd", "payment_method": "pm_nope"}, **BEARER)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "resource_missing"
    body = {"amount": "100", "currency": "usd", "payment_method": "pm_card_visa_chargeDeclinedLostCard"}
    first = client.post(STRIPE, body, HTTP_IDEMPOTENCY_KEY="k1", **BEARER)
    assert first.status_code == 402 and first.json()["error"]["decline_code"] == "lost_card"
    again = client.post(STRIPE, {**body, "payment_method": "pm_card_visa"}, HTTP_IDEMPOTENCY_KEY="k1", **BEARER)
    assert (again.status_code, again.json()) == (402, first.json())
    assert DemoCharge.objects.get(idempotency_key="k1").calls == 2


def test_cloudpayments_answers_in_its_shapes(client):
    charge = {"Amount": 10.5, "Currency": "RUB", "Token": "tk_demo_insufficient_funds", "InvoiceId": "INV-1"}
    assert client.post(CP, charge, content_type="application/json").status_code == 401
    assert client.post(CP, "not json", content_type="application/json", **BASIC).status_code == 400
    declined = client.post(CP, charge, content_type="application/json", HTTP_X_REQUEST_ID="r1", **BASIC).json()
    assert (declined["Success"], declined["Model"]["ReasonCode"]) == (False, 5051)
    ok = client.post(CP, {**charge, "Token": "tk_demo_success"}, content_type="application/json", **BASIC).json()
    assert ok["Success"] and ok["Model"]["Status"] == "Completed"
    down = client.post(CP, {**charge, "Token": "tk_demo_gateway_error"}, content_type="application/json", **BASIC)
    assert down.status_code == 500
    assert DemoCharge.objects.get(idempotency_key="r1").response["Model"]["Reason"] == "InsufficientFunds"


def test_a_shell_beside_the_dev_server_finds_its_address(tmp_path, monkeypatch):
    from commerce_coordinator.settings.components.demo_gateway import dev_server_url

    for name in ("DEMO_GATEWAY_URL", "CC_DEV_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    assert dev_server_url(tmp_path) == "http://localhost:8140"
    (tmp_path / "dev_server_url").write_text("http://127.0.0.1:8153\n")  # what runserver writes once bound
    assert dev_server_url(tmp_path) == "http://127.0.0.1:8153"
    monkeypatch.setenv("CC_DEV_SERVER_URL", "http://127.0.0.1:9000")  # the embedded worker's
    assert dev_server_url(tmp_path) == "http://127.0.0.1:9000"
    monkeypatch.setenv("DEMO_GATEWAY_URL", "http://gateway.invalid/")
    assert dev_server_url(tmp_path) == "http://gateway.invalid"


def _fixture(name: str) -> dict:
    import json
    from pathlib import Path

    from django.conf import settings

    return json.loads((Path(settings.BASE_DIR) / "tests" / "fixtures" / name).read_text())


def test_refunds_answer_in_each_providers_shape_and_replay_a_repeated_key(client):
    intent = client.post(STRIPE, {"amount": "500", "currency": "usd", "payment_method": "pm_card_visa"}, **BEARER)
    refunds = "/demo_gateway/stripe/v1/refunds"
    assert client.post(refunds, {"payment_intent": intent.json()["id"]}).status_code == 401
    unknown = client.post(refunds, {"payment_intent": "pi_nope"}, **BEARER)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "resource_missing"
    body = {"payment_intent": intent.json()["id"], "amount": "200", "metadata[refund_key]": "inv-1-r1"}
    made = client.post(refunds, body, HTTP_IDEMPOTENCY_KEY="rk1", **BEARER)
    assert made.status_code == 200 and set(made.json()) == set(_fixture("stripe/refund.json"))  # Stripe's own keys
    shown = made.json()
    assert (shown["amount"], shown["status"], shown["metadata"]) == (200, "succeeded", {"refund_key": "inv-1-r1"})
    assert client.post(refunds, body, HTTP_IDEMPOTENCY_KEY="rk1", **BEARER).json() == made.json()
    rest = client.post(refunds, {"payment_intent": intent.json()["id"]}, **BEARER).json()  # no amount: the rest
    assert rest["amount"] == 300
    done = client.post(refunds, {"payment_intent": intent.json()["id"]}, **BEARER)
    assert done.status_code == 400 and done.json()["error"]["code"] == "charge_already_refunded"

    cp = "/demo_gateway/cloudpayments/payments/refund"
    charge = {"Amount": 10.5, "Currency": "RUB", "Token": "tk_demo_success", "InvoiceId": "INV-1"}
    paid = client.post(CP, charge, content_type="application/json", **BASIC).json()["Model"]["TransactionId"]
    assert client.post(cp, {"TransactionId": paid, "Amount": 1}, content_type="application/json").status_code == 401
    assert client.post(cp, {"Amount": 1}, content_type="application/json", **BASIC).status_code == 400
    refund = client.post(cp, {"TransactionId": paid, "Amount": 10.5}, content_type="application/json", **BASIC)
    assert set(refund.json()) == set(_fixture("cloudpayments/api_refund.json")) and refund.json()["Success"]
    again = client.post(cp, {"TransactionId": paid, "Amount": 0.01}, content_type="application/json", **BASIC)
    assert again.json() == {"Success": False, "Message": "Invalid refund amount"}
