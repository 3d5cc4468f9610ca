"""Health, the signal map and the trace endpoints; every error answer is JSON."""

import re
from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from . import health, routing, tracing
from .models import Trace, TraceKey, TraceNode
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


# Query parameter -> business key (core.TraceKey) that GET /core/traces/ filters by.
KEY_FILTERS = {
    "order": "order_number",
    "payment_id": "payment_id",
    "user": "lms_user_id",
    "event": "event_id",
    "invoice": "invoice_number",
    "contract": "contract_id",
    "subscription": "subscription_id",
    "message": "message_id",
    "account": "account_id",
}
TRACE_STATUSES = ("ok", "error", "retry", "running", "queued", "skipped")


class TraceListView(generics.ListAPIView):
    """GET /core/traces/?status=&signal=&order=&payment_id=&user=&event=&since=&until=: traces, newest first.

    `signal` finds every trace in which that signal was sent; `status` is a trace's worst node's.
    """

    serializer_class = TraceSummarySerializer
    pagination_class = TracePagination

    def get_queryset(self):
        params = self.request.query_params
        queryset = Trace.objects.with_status().order_by("-started_at")
        if params.get("signal"):
            queryset = queryset.that_sent(params["signal"])
        for param, key in KEY_FILTERS.items():
            if params.get(param):
                queryset = queryset.with_key(key, params[param][:255])
        status = params.get("status")
        if status:
            if status not in TRACE_STATUSES:
                raise exceptions.ValidationError({"status": f"must be one of {', '.join(TRACE_STATUSES)}"})
            queryset = queryset.with_trace_status(status)
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
        status = tracing.worst(n.status for n in nodes)
        keys = trace_keys(trace_id)
        subject = next((n.subject for n in nodes if n.subject), "") or nodes[0].name
        return Response(
            {
                "trace_id": trace_id,
                "name": subject,
                "status": status,
                "keys": keys,
                "node_count": len(nodes),
                "nodes": tree,
            }
        )


def trace_keys(trace_id: str) -> dict[str, list[str]]:
    """The business keys the nodes of a trace carried: key -> values."""
    keys: dict[str, list[str]] = {}
    for key, value in TraceKey.objects.filter(trace_id=trace_id).values_list("key", "value").order_by("id"):
        if value not in keys.setdefault(key, []):
            keys[key].append(value)
    return keys
