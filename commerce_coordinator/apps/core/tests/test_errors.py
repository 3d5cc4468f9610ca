"""Error answers are JSON on API paths, HTML in the admin (issue 9, item 8)."""

import json

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

FULFILLMENTS = "/api/v1/fulfillments/"


@pytest.mark.parametrize("path", [FULFILLMENTS, "/api/v1/orders/X/", "/payments/webhooks/stripe/", "/health/"])
def test_a_disallowed_host_is_a_json_400(client, path):
    response = client.post(path, data="{}", content_type="application/json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "disallowed_host"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_body_over_the_upload_limit_is_a_json_413(staff_client):
    body = json.dumps({"order_number": "BIG-1", "lms_user_id": 3, "lines": [{"course_run_key": "x" * 4096}]})
    response = staff_client.post(FULFILLMENTS, data=body, content_type="application/json")
    assert response.status_code == 413, response.content
    assert response.json()["error"] == "request_too_large"


def test_a_body_over_the_default_limit_is_a_json_413(staff_client, settings):
    body = b'{"order_number": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
    response = staff_client.post(FULFILLMENTS, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_an_unknown_api_url_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_admin_pages_keep_django_html_errors(client):
    response = client.get("/admin/no-such-page/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_permission_denied_outside_drf_is_a_json_403(rf):
    from django.core.exceptions import PermissionDenied

    from commerce_coordinator.apps.core.errors import permission_denied

    response = permission_denied(rf.get("/core/anything/"), PermissionDenied("no"))
    assert response.status_code == 403 and json.loads(response.content)["error"] == "permission_denied"


def test_an_unhandled_error_on_an_api_path_is_a_json_500(rf):
    from commerce_coordinator.apps.core.errors import server_error

    response = server_error(rf.get("/api/v1/orders/X/"))
    assert response.status_code == 500 and json.loads(response.content)["error"] == "server_error"
