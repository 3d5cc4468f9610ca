"""The subscriptions API: subscribe, unsubscribe (at period end or at once), an account's subscriptions;
every write's Idempotency-Key (a repeat answers the same and changes nothing), JSON errors, the schema."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import Invoice
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions.models import ApiWrite, Plan, Subscription, SubscriptionEvent

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
URL = "/api/v1/billing/subscriptions/"


@pytest.fixture
def plan():
    return Plan.objects.create(code="demo-monthly", name="Demo monthly", price=Decimal("9.90"), currency="USD")


def subscribe(client, account_id, key="k-1", plan="demo-monthly"):
    return client.post(URL, {"account": account_id, "plan": plan}, content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY=key)  # fmt: skip


def test_subscribe_with_a_repeated_key_answers_the_same_and_subscribes_once(staff_client, gateway, billing_clock, plan):
    account = factories.account("ok", products=0)
    first = subscribe(staff_client, account.pk)
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "pending" and first.json()["plan"] == "demo-monthly"
    again = subscribe(staff_client, account.pk)
    assert again.status_code == 201 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Subscription.objects.count() == 1 and Invoice.objects.count() == 1 and gateway.calls() == 1
    other = subscribe(staff_client, account.pk, key="k-2")
    assert other.status_code == 201 and Subscription.objects.count() == 2

    listed = staff_client.get(f"/api/v1/billing/accounts/{account.pk}/subscriptions/?status=active")
    assert [s["id"] for s in listed.json()["results"]] == [other.json()["id"], first.json()["id"]]


def test_unsubscribe_with_a_repeated_key_changes_nothing_more(staff_client, gateway, billing_clock, plan):
    account = factories.account("ok", products=0)
    sub_id = subscribe(staff_client, account.pk).json()["id"]
    at_end = staff_client.delete(f"{URL}{sub_id}/", HTTP_IDEMPOTENCY_KEY="d-1")
    assert at_end.status_code == 200 and at_end.json()["cancel_at_period_end"] and at_end.json()["status"] == "active"
    events = SubscriptionEvent.objects.filter(subscription_id=sub_id).count()
    assert staff_client.delete(f"{URL}{sub_id}/", HTTP_IDEMPOTENCY_KEY="d-1").json() == at_end.json()
    assert SubscriptionEvent.objects.filter(subscription_id=sub_id).count() == events

    now = staff_client.delete(f"{URL}{sub_id}/?immediately=true", HTTP_IDEMPOTENCY_KEY="d-2")
    assert now.status_code == 200 and now.json()["status"] == "canceled"
    late = staff_client.delete(f"{URL}{sub_id}/?immediately=true", HTTP_IDEMPOTENCY_KEY="d-3")
    assert late.status_code == 409 and late.json()["error"] == "conflict" and "canceled" in late.json()["detail"]
    assert staff_client.delete(f"{URL}{sub_id}/?immediately=true", HTTP_IDEMPOTENCY_KEY="d-3").status_code == 409
    detail = staff_client.get(f"{URL}{sub_id}/").json()
    assert [e["action"] for e in detail["events"]] == ["create", "activate", "schedule_cancel", "cancel"]


def test_the_pay_endpoint_of_invoicing_is_there_for_a_subscriptions_invoice(staff_client, gateway, billing_clock, plan):
    account = factories.account("soft", products=0)
    subscribe(staff_client, account.pk)
    invoice = Invoice.objects.get(account=account)
    paid = staff_client.post(f"/api/v1/billing/invoices/{invoice.number}/pay/",
                             {"provider": "stripe", "payment_token": "pm_card_visa", "reason": "new card"},
                             content_type="application/json", HTTP_IDEMPOTENCY_KEY="p-1")  # fmt: skip
    assert paid.status_code == 202, paid.content
    assert Subscription.objects.get().status == "active"


@pytest.mark.parametrize(
    ("body", "key", "status", "field"),
    [({"account": 1, "plan": "demo-monthly"}, None, 400, "Idempotency-Key"),
     ({"account": "x", "plan": "demo-monthly"}, "b-1", 400, "account"),
     ({"plan": "demo-monthly"}, "b-2", 400, "account"),
     ({"account": 1, "plan": "no such plan!"}, "b-3", 400, "plan")],
)  # fmt: skip
def test_bad_input_is_a_json_400_that_names_the_field(staff_client, plan, body, key, status, field):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    answer = staff_client.post(URL, body, content_type="application/json", **headers)
    assert answer.status_code == status and field in str(answer.json())
    assert not Subscription.objects.exists()


def test_a_refused_subscribe_is_a_400_stored_under_its_key(staff_client, billing_clock, plan):
    answer = subscribe(staff_client, 4242, key="r-1")
    assert answer.status_code == 400 and answer.json() == {"error": "subscribe_refused",
                                                           "detail": "no billing account 4242"}  # fmt: skip
    assert subscribe(staff_client, 4242, key="r-1").json() == answer.json() and ApiWrite.objects.count() == 1


def test_unknown_ids_and_bad_filters_are_json_errors(staff_client, plan):
    assert staff_client.delete(f"{URL}999/", HTTP_IDEMPOTENCY_KEY="x").status_code == 404
    assert staff_client.get(f"{URL}999/").json()["error"]
    bad = staff_client.get("/api/v1/billing/accounts/1/subscriptions/?status=sleeping")
    assert bad.status_code == 400 and "status" in bad.json()["detail"]
    assert staff_client.delete(f"{URL}1/?immediately=maybe", HTTP_IDEMPOTENCY_KEY="y").status_code == 400


def test_anonymous_callers_are_refused(client, plan):
    assert client.post(URL, {}, content_type="application/json").status_code in (401, 403)


def test_the_openapi_schema_describes_the_subscriptions_api(staff_client):
    schema = staff_client.get("/api/schema/?format=json")
    if schema.status_code == 404:
        pytest.skip("no schema endpoint mounted")
    paths = schema.json()["paths"]
    assert {"post"} <= set(paths["/api/v1/billing/subscriptions/"])
    assert {"get", "delete"} <= set(paths["/api/v1/billing/subscriptions/{subscription_id}/"])
    assert "get" in paths["/api/v1/billing/accounts/{account_id}/subscriptions/"]
