"""Health, the signal map and the trace endpoints; every error answer is JSON."""

import re
from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from . import health, routing
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


class HealthView(APIView):
    """GET /health/: database, cache and broker status (503 when one is down); error details for staff only."""

    permission_classes = [AllowAny]

    def perform_authentication(self, request):
        """Lazy: only _is_staff asks who the caller is, and bad credentials make it anonymous."""

    def get(self, request):
        body = health.run_probes()
        status = 200 if body["status"] == "ok" else 503
        return Response(body if _is_staff(request) else health.statuses_only(body), status=status)


def _is_staff(request) -> bool:
    """A staff session or Basic credentials; bad credentials make the caller anonymous here, not a 401."""
    try:
        return bool(request.user and request.user.is_staff)
    except exceptions.APIException:
        return False


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
