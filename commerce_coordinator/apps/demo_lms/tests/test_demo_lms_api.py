"""The demo LMS: its OAuth2 token endpoint, its enrollment API, its provisioning, and the whole flow against it."""

import io
import time

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_lms.models import DemoEnrollment, DemoOAuthClient

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TOKEN_URL = "/demo_lms/oauth2/access_token"
ENROLL_URL = "/demo_lms/api/enrollment/v1/enrollment"
KEY = "course-v1:edX+DemoX+Demo_Course"


@pytest.fixture
def demo_client():
    call_command("provision_demo_lms", client_id="cc-demo", client_secret="cc-demo-secret", stdout=io.StringIO())
    return DemoOAuthClient.objects.get(client_id="cc-demo")


def token(client, secret="cc-demo-secret"):
    return client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": "cc-demo", "client_secret": secret, "token_type": "jwt"},
    )


def test_provisioning_is_idempotent():
    out = io.StringIO()
    call_command("provision_demo_lms", client_id="cc-demo", client_secret="s1", stdout=out)
    call_command("provision_demo_lms", client_id="cc-demo", client_secret="s1", stdout=out)
    call_command("provision_demo_lms", client_id="cc-demo", client_secret="s2", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines if line.startswith("demo LMS OAuth client")] == [
        "created",
        "unchanged",
        "updated",
    ]
    assert DemoOAuthClient.objects.count() == 1 and DemoOAuthClient.objects.get().check_secret("s2")
    assert DemoEnrollment.objects.count() == 1


def test_token_endpoint_issues_a_service_jwt(client, demo_client):
    response = token(client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "JWT" and body["expires_in"] == 3600
    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    claims = jwt.decode(body["access_token"], issuer["SECRET_KEY"], algorithms=["HS256"], audience=issuer["AUDIENCE"])
    assert claims["preferred_username"] == "commerce_coordinator_worker" and claims["administrator"] is True


def test_token_endpoint_refuses_a_wrong_secret_or_grant(client, demo_client):
    assert token(client, secret="wrong").status_code == 401
    assert token(client, secret="wrong").json()["error"] == "invalid_client"
    response = client.post(TOKEN_URL, {"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_enrollment_api_enrolls_and_unenrolls_with_the_real_shape(client, demo_client):
    auth = {"HTTP_AUTHORIZATION": "JWT " + token(client).json()["access_token"]}
    body = {"user": "42", "mode": "verified", "is_active": True, "course_details": {"course_id": KEY}}
    response = client.post(ENROLL_URL, body, content_type="application/json", **auth)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["user"] == "42" and data["mode"] == "verified" and data["is_active"] is True
    assert data["course_details"]["course_id"] == KEY and "course_modes" in data["course_details"]
    assert "created" in data
    response = client.post(ENROLL_URL, {**body, "is_active": False}, content_type="application/json", **auth)
    assert response.json()["is_active"] is False
    assert DemoEnrollment.objects.filter(user="42").count() == 1
    listed = client.get(ENROLL_URL, {"user": "42"}, **auth).json()
    assert [e["course_details"]["course_id"] for e in listed] == [KEY]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"course_details": {"course_id": "not a key"}},
        {"course_details": "x"},
        {"course_details": {"course_id": KEY}, "mode": "platinum"},
        {"course_details": {"course_id": KEY}, "is_active": "yes"},
        {"course_details": {"course_id": KEY}, "user": "bad user!"},
        {"course_details": {"course_id": "course-v1:a+b+" + "c" * 300}},
        {"course_details": {"course_id": KEY}, "user": "u" * 151},
    ],
)
def test_enrollment_api_answers_bad_input_with_a_json_400(client, demo_client, body):
    auth = {"HTTP_AUTHORIZATION": "JWT " + token(client).json()["access_token"]}
    response = client.post(ENROLL_URL, body, content_type="application/json", **auth)
    assert response.status_code == 400 and "message" in response.json()


def test_enrollment_api_needs_a_service_token(client):
    response = client.post(ENROLL_URL, {"course_details": {"course_id": KEY}}, content_type="application/json")
    assert response.status_code == 401


def _signed(claims_update=None, key=None):
    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    now = int(time.time())
    claims = {
        "aud": issuer["AUDIENCE"],
        "iss": issuer["ISSUER"],
        "iat": now,
        "exp": now + 60,
        "preferred_username": "svc",
        "administrator": True,
    }
    claims.update(claims_update or {})
    return "JWT " + jwt.encode(claims, key or issuer["SECRET_KEY"], algorithm="HS256")


@pytest.mark.parametrize(
    "claims, key, status",
    [
        ({}, "another-key-of-at-least-32-bytes-long", 401),  # signed by someone else
        ({"exp": int(time.time()) - 3600}, None, 401),  # expired
        ({"aud": "someone-else"}, None, 401),
        ({"iss": "http://elsewhere/oauth2"}, None, 401),
        ({"administrator": False}, None, 403),  # a valid token, but not a service (staff) caller
        ({"preferred_username": ""}, None, 401),
    ],
)
def test_enrollment_api_checks_the_jwt_itself(client, claims, key, status):
    body = {"user": "42", "mode": "verified", "course_details": {"course_id": KEY}}
    response = client.post(ENROLL_URL, body, content_type="application/json", HTTP_AUTHORIZATION=_signed(claims, key))
    assert response.status_code == status
    assert not DemoEnrollment.objects.filter(user="42").exists()


def test_a_verified_token_is_still_refused_once_it_expires(client, monkeypatch):
    auth = _signed({"exp": int(time.time()) + 5})
    body = {"user": "42", "mode": "verified", "course_details": {"course_id": KEY}}
    assert client.post(ENROLL_URL, body, content_type="application/json", HTTP_AUTHORIZATION=auth).status_code == 200
    later = time.time() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.post(ENROLL_URL, body, content_type="application/json", HTTP_AUTHORIZATION=auth).status_code == 401


def test_re_enrolling_keeps_the_enrollment_and_its_attributes(client):
    auth = _signed()
    attrs = [{"namespace": "order", "name": "order_number", "value": "O-1"}]
    body = {"user": "43", "mode": "verified", "course_details": {"course_id": KEY}, "enrollment_attributes": attrs}
    first = client.post(ENROLL_URL, body, content_type="application/json", HTTP_AUTHORIZATION=auth).json()
    body.pop("enrollment_attributes")
    again = client.post(
        ENROLL_URL, {**body, "is_active": False}, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert again.status_code == 200 and again.json()["is_active"] is False
    assert again.json()["created"] == first["created"]
    enrollment = DemoEnrollment.objects.get(user="43")
    assert enrollment.enrollment_attributes == attrs and enrollment.is_active is False
