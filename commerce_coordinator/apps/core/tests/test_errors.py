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


def test_a_database_error_in_an_api_view_is_a_json_503_or_stays_a_bug(staff_client, monkeypatch):
    from django.db import IntegrityError, OperationalError

    from commerce_coordinator.apps.core import views

    def failing(error):
        def get_queryset(self):
            raise error

        return get_queryset

    monkeypatch.setattr(views.TraceListView, "get_queryset", failing(OperationalError("gone away")))
    response = staff_client.get("/core/traces/")
    assert response.status_code == 503 and response.json()["error"] == "database_unavailable"
    monkeypatch.setattr(views.TraceListView, "get_queryset", failing(IntegrityError("a bug")))
    with pytest.raises(IntegrityError):
        staff_client.get("/core/traces/")


@pytest.mark.django_db(databases=["default", "traces"])
def test_the_trace_admin_answers_503_with_the_fix_when_the_database_is_not_migrated(admin_client, monkeypatch):
    from django.db import OperationalError

    from commerce_coordinator.apps.core import migration_state
    from commerce_coordinator.apps.core.admin import TraceAdmin

    on_disk = migration_state.expected_migrations()
    monkeypatch.setattr(migration_state, "expected_migrations", lambda: on_disk | {("core", "9999_not_applied")})

    def no_table(self, request):
        raise OperationalError("no such table: core_tracenode")

    monkeypatch.setattr(TraceAdmin, "get_queryset", no_table)
    for path in ("/admin/core/trace/", "/admin/core/trace/" + "a" * 32 + "/change/"):
        response = admin_client.get(path)
        assert response.status_code == 503, path
        assert b"is not migrated" in response.content and b"manage.py migrate" in response.content


@pytest.mark.parametrize("handler", ["bad_request", "permission_denied", "page_not_found", "server_error"])
def test_each_handler_answers_html_in_the_admin_and_json_elsewhere(rf, handler):
    from django.core.exceptions import SuspiciousOperation

    from commerce_coordinator.apps.core import errors

    def call(path):
        view = getattr(errors, handler)
        return view(rf.get(path)) if handler == "server_error" else view(rf.get(path), SuspiciousOperation("x"))

    assert call("/admin/x/")["Content-Type"].startswith("text/html")
    assert call("/api/v1/x/")["Content-Type"] == "application/json"
