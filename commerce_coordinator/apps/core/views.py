"""Health, the signal map and the trace endpoints; every error answer is JSON."""

import re
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from . import routing
from .models import Trace, TraceNode
from .serializers import TraceSummarySerializer, build_tree

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def json_exception_handler(exc, context):
    """DRF's handler, with a stable shape: {"error": <code>, "detail": <what is wrong>}."""
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, dict) and set(detail) == {"detail"}:
            detail = detail["detail"]
        response.data = {"error": code, "detail": detail}
    return response


def json_not_found(request, exception=None):
    return JsonResponse({"error": "not_found", "detail": f"No such page: {request.path}"}, status=404)


def json_server_error(request):
    return JsonResponse({"error": "server_error", "detail": "Internal error; the log has the details."}, status=500)


def _check(probe) -> dict:
    try:
        probe()
        return {"status": "ok"}
    except Exception as exc:
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}


def _probe_databases():
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")


def _probe_cache():
    cache.set("cc-health", "1", 5)
    if cache.get("cc-health") != "1":
        raise RuntimeError("cache did not return what was set")


def _probe_broker():
    from commerce_coordinator.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


class HealthView(APIView):
    """GET /health/: database, cache and broker status; 503 when one is down."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        body = {"database": _check(_probe_databases), "cache": _check(_probe_cache)}
        if settings.CELERY_TASK_ALWAYS_EAGER:
            body["broker"] = {"status": "ok", "mode": "in-process (no broker configured)"}
        else:
            body["broker"] = _check(_probe_broker)
        healthy = all(part["status"] == "ok" for part in body.values())
        body["status"] = "ok" if healthy else "down"
        return Response(body, status=200 if healthy else 503)


class SignalMapView(APIView):
    """GET /core/signals/: each signal, its receivers and each entry's check status."""

    def get(self, request):
        return Response(routing.map_document())


class TracePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _parse_time(request, name) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well-formed but impossible, e.g. February 30th
        value = None
    if value is None:
        raise exceptions.ValidationError({name: f"not an ISO 8601 date-time: {raw!r}"})
    return value


class TraceListView(generics.ListAPIView):
    """GET /core/traces/?signal=&status=ok|error&since=&until=: recent traces, newest first."""

    serializer_class = TraceSummarySerializer
    pagination_class = TracePagination

    def get_queryset(self):
        params = self.request.query_params
        queryset = Trace.objects.with_status().order_by("-started_at")
        if params.get("signal"):
            queryset = queryset.filter(name__icontains=params["signal"])
        status = params.get("status")
        if status:
            if status not in ("ok", "error"):
                raise exceptions.ValidationError({"status": "must be 'ok' or 'error'"})
            queryset = queryset.filter(has_error=(status == "error"))
        since, until = _parse_time(self.request, "since"), _parse_time(self.request, "until")
        if since:
            queryset = queryset.filter(started_at__gte=since)
        if until:
            queryset = queryset.filter(started_at__lte=until)
        return queryset


class TraceDetailView(APIView):
    """GET /core/traces/<trace_id>/: the whole tree of one trace."""

    def get(self, request, trace_id):
        if not TRACE_ID.match(trace_id):
            raise exceptions.NotFound(f"{trace_id!r} is not a trace id (32 hex digits).")
        nodes = list(TraceNode.objects.filter(trace_id=trace_id).order_by("started_at"))
        if not nodes:
            raise exceptions.NotFound(f"No trace {trace_id} (never sampled, pruned, or not written yet).")
        tree = build_tree(nodes)
        status = "error" if any(n.status == "error" for n in nodes) else "ok"
        return Response({"trace_id": trace_id, "status": status, "node_count": len(nodes), "nodes": tree})
