"""JSON error answers for API paths: Django's handler400/403/404/500, DRF errors, and missing tables (503).

Every path is an API path (/api/, /payments/, /core/, /health/, /demo_lms/, an unknown URL) except the
HTML ones (the admin), which keep Django's HTML error pages.
"""

import logging

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DatabaseError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.views import defaults

from .migration_state import fix_command, unmigrated_aliases

logger = logging.getLogger(__name__)

HTML_PATH_PREFIXES = ("/admin/",)


def is_api_path(path: str) -> bool:
    return not path.startswith(HTML_PATH_PREFIXES)


def json_error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def bad_request(request, exception=None):
    """handler400: also what Django answers for DisallowedHost and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if not is_api_path(request.path):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return json_error("request_too_large", "The request body is larger than this service accepts.", 413)
    if isinstance(exception, DisallowedHost):
        return json_error("disallowed_host", "The Host header names a host this service does not serve.", 400)
    return json_error("bad_request", "The request is malformed.", 400)


def permission_denied(request, exception=None):
    if not is_api_path(request.path):
        return defaults.permission_denied(request, exception)
    return json_error("permission_denied", "You do not have permission to perform this action.", 403)


def page_not_found(request, exception=None):
    if not is_api_path(request.path):
        return defaults.page_not_found(request, exception)
    return json_error("not_found", f"No such page: {request.path}", 404)


def server_error(request):
    if not is_api_path(request.path):
        return defaults.server_error(request)
    return json_error("server_error", "Internal error; the log has the details.", 500)


def database_unavailable(exc: Exception) -> tuple[str, str] | None:
    """(code, detail) when a database error means "not migrated" or "down", else None (a real bug: 500)."""
    missing = unmigrated_aliases()
    if missing:
        names = ", ".join(f"{alias!r} ({count} migration(s) not applied)" for alias, count in missing.items())
        return "database_not_migrated", f"Database {names} is not migrated: run `{fix_command(next(iter(missing)))}`."
    if isinstance(exc, OperationalError):
        return "database_unavailable", "A database is unavailable; try again later."
    return None


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: the core's JSON shape, and a 503 for an unmigrated or unreachable database."""
    from .views import json_exception_handler

    response = json_exception_handler(exc, context)
    if response is None and isinstance(exc, DatabaseError):
        problem = database_unavailable(exc)
        if problem:
            logger.error("Answering 503: %s (%s: %s)", problem[1], type(exc).__name__, exc)
            response = json_error(*problem, status=503)
    return response


class DatabaseUnavailableAdminMixin:
    """A ModelAdmin whose pages answer 503 with the fix instead of a 500 when its table is missing."""

    def _or_unavailable(self, view, request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DatabaseError as exc:
            problem = database_unavailable(exc)
            if problem is None:
                raise
            logger.error("Admin answering 503: %s", problem[1])
            return HttpResponse(
                f"<h1>Service unavailable</h1><p>{escape(problem[1])}</p>", status=503, content_type="text/html"
            )

    def changelist_view(self, request, extra_context=None):
        return self._or_unavailable(super().changelist_view, request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self._or_unavailable(super().change_view, request, object_id, form_url, extra_context)
