"""GET /api/v1/orders/<n>/ and POST /api/v1/fulfillments/: service JWT or staff, JSON errors, OpenAPI schema."""

import time

import jwt
import pytest
from django.conf import settings

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms.models import Order

from .fake_payments import pay

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)

A, B = "course-v1:edX+A+2026", "course-v1:edX+B+2026"


def service_jwt(administrator=True, secret=None, **claims):
    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    now = int(time.time())
    payload = {
        "iss": issuer["ISSUER"],
        "aud": issuer["AUDIENCE"],
        "iat": now,
        "exp": now + 300,
        "preferred_username": "lms_service_worker",
        "administrator": administrator,
        "version": "1.2.0",
        "scopes": ["read", "write"],
        "filters": [],
        "is_restricted": False,
        **claims,
    }
    return "JWT " + jwt.encode(payload, secret or issuer["SECRET_KEY"], algorithm="HS256")


def test_order_api_with_a_service_jwt(client, fake_lms, routed):
    fake_lms.then(400)
    result = pay(keys=[A, B])
    response = client.get("/api/v1/orders/ORD-1/", HTTP_AUTHORIZATION=service_jwt())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order_number"] == "ORD-1" and body["status"] == "failed"
    assert body["trace_ids"] == [result.trace_id]
    assert body["amount"] == "49.00" and body["provider"] == "stripe"
    lines = {line["course_run_key"]: line for line in body["lines"]}
    assert lines[A]["status"] == "failed" and lines[A]["attempts"] == 1 and "LMS answered 400" in lines[A]["last_error"]
    assert lines[B]["status"] == "fulfilled" and lines[B]["last_error"] == ""
    assert lines[A]["last_trace_id"] == result.trace_id


def test_order_api_with_a_staff_session(staff_client, fake_lms, routed):
    pay()
    assert staff_client.get("/api/v1/orders/ORD-1/").json()["status"] == "fulfilled"


def test_unknown_order_is_a_json_404(staff_client):
    response = staff_client.get("/api/v1/orders/NO-SUCH/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and "NO-SUCH" in response.json()["detail"]
    response = staff_client.get("/api/v1/orders/%20bad%20number/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "JWT not-a-token",
        service_jwt(secret="someone-elses-key"),
        service_jwt(exp=int(time.time()) - 60),
    ],
)
def test_the_apis_refuse_callers_without_a_valid_service_jwt(client, auth):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    for response in (
        client.get("/api/v1/orders/ORD-1/", **headers),
        client.post("/api/v1/fulfillments/", {}, content_type="application/json", **headers),
    ):
        assert response.status_code == 401, response.content
        assert "error" in response.json()


def test_a_valid_jwt_of_a_non_administrator_is_forbidden(client):
    response = client.get("/api/v1/orders/ORD-1/", HTTP_AUTHORIZATION=service_jwt(administrator=False))
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"


def test_fulfillments_api_enrolls_through_the_same_path(client, fake_lms, routed):
    body = {"order_number": "FREE-1", "lms_user_id": 7, "lines": [{"course_run_key": A, "mode": "audit"}]}
    response = client.post(
        "/api/v1/fulfillments/", body, content_type="application/json", HTTP_AUTHORIZATION=service_jwt()
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["source"] == "api" and data["status"] == "fulfilled"
    [trace_id] = data["trace_ids"]
    assert TraceNode.objects.filter(trace_id=trace_id, kind="task", status="ok").count() == 1
    assert data["lines"][0]["mode"] == "audit" and data["lines"][0]["status"] == "fulfilled"
    assert fake_lms.calls[0]["body"]["mode"] == "audit" and fake_lms.calls[0]["body"]["user"] == "7"
    again = client.post(
        "/api/v1/fulfillments/", body, content_type="application/json", HTTP_AUTHORIZATION=service_jwt()
    )
    assert again.status_code == 200
    assert len(fake_lms.calls) == 1
    assert [kind for kind, _ in routed] == ["completed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "order_number"),
        ({"order_number": "X 1", "lms_user_id": 1, "lines": [{"course_run_key": A}]}, "order_number"),
        ({"order_number": "X1", "lms_user_id": 0, "lines": [{"course_run_key": A}]}, "lms_user_id"),
        ({"order_number": "X1", "lms_user_id": "abc", "lines": [{"course_run_key": A}]}, "lms_user_id"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": []}, "lines"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": [{"course_run_key": "bad key!"}]}, "lines"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": [{"course_run_key": A}, {"course_run_key": A}]}, "lines"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": "nope"}, "lines"),
        ({"order_number": "X1", "lms_user_id": 10**30, "lines": [{"course_run_key": A}]}, "lms_user_id"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": [None]}, "lines"),
        ({"order_number": "X1", "lms_user_id": 1, "lines": [{"course_run_key": "c" * 300}]}, "lines"),
        ({"order_number": "X" * 200, "lms_user_id": 1, "lines": [{"course_run_key": A}]}, "order_number"),
    ],
)
def test_bad_fulfillment_requests_get_a_json_400(staff_client, body, field):
    response = staff_client.post("/api/v1/fulfillments/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error"] == "invalid" and field in data["detail"]
    assert not Order.objects.exists()


def test_malformed_json_is_a_json_400(staff_client):
    response = staff_client.post("/api/v1/fulfillments/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "parse_error"
    response = staff_client.post("/api/v1/fulfillments/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_openapi_schema_describes_both_apis(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/orders/{order_number}/" in schema["paths"]
    post = schema["paths"]["/api/v1/fulfillments/"]["post"]
    assert {"200", "201", "400", "401", "403"} <= set(post["responses"])
    assert "serviceJwt" in schema["components"]["securitySchemes"]
    assert "Error" in schema["components"]["schemas"]


def test_with_no_issuer_configured_no_jwt_is_accepted(client, settings):
    token = service_jwt()
    settings.JWT_AUTH = {**settings.JWT_AUTH, "JWT_ISSUERS": []}
    response = client.get("/api/v1/orders/ORD-1/", HTTP_AUTHORIZATION=token)
    assert response.status_code == 401
