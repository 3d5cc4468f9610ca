"""Operator pages (staff only): search, case page, trace waterfall, attention list, signal map, audited actions.

Pages are server-rendered; a page whose work is still moving polls its own fragment with htmx. Every action
is a POST with Django's CSRF check and a required reason, and leaves an audit row.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import actions, queries, signal_map, waterfall

REASON_MAX = 2000


def staff_only(view):
    """Anonymous: to the admin's login page; logged in but not staff: 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not request.user.is_staff:
            raise PermissionDenied("The operator console is for staff.")
        return view(request, *args, **kwargs)

    return wrapped


def _page(request, template: str, fragment: str, context: dict):
    """The whole page, or only its self-refreshing fragment when htmx polls for it."""
    context["poll_seconds"] = settings.CONSOLE_POLL_SECONDS
    return render(request, fragment if request.headers.get("HX-Request") else template, context)


def _reason(request) -> str:
    reason = request.POST.get("reason", "").strip()
    if not reason:
        raise BadAction("Say why (a reason is required for every operator action).")
    return reason[:REASON_MAX]


class BadAction(ValueError):
    """An action request the console refuses (answered 400 with the message)."""


def _refuse(request, message: str):
    return render(request, "console/refused.html", {"message": message}, status=400)


def actor(request) -> str:
    return request.user.get_username()


# --- pages -------------------------------------------------------------------------------------


@require_GET
@staff_only
def search(request):
    term = request.GET.get("q", "").strip()
    result = queries.search(term) if term else None
    jump = result.only_match() if result else None
    if jump:
        kind, key = jump
        return redirect("console:order" if kind == "order" else "console:trace", key)
    return render(request, "console/search.html", {"term": term, "result": result})


@require_GET
@staff_only
def order_case(request, order_number):
    case = queries.order_case(order_number)
    if case is None:
        raise Http404(f"No order {order_number}")
    return _page(request, "console/order.html", "console/_order_case.html", {"case": case})


@require_GET
@staff_only
def trace(request, trace_id):
    if not queries.TRACE_ID.match(trace_id):
        raise Http404("Not a trace id (32 hex digits).")
    nodes = queries.trace_nodes(trace_id)
    if not nodes:
        raise Http404(f"No trace {trace_id} (never sampled, pruned, or not written yet).")
    rows = waterfall.rows(nodes)
    context = {
        "trace_id": trace_id,
        "rows": rows,
        "status": waterfall.trace_status(nodes),
        "error_count": sum(1 for n in nodes if n.status == "error"),
        "moving": any(row.waiting for row in rows),
        "keys": queries.trace_business_keys(trace_id),
        "started_at": rows[0].node.started_at if rows else None,
    }
    return _page(request, "console/trace.html", "console/_trace_rows.html", context)


@require_GET
@staff_only
def attention(request):
    groups = queries.attention()
    return render(request, "console/attention.html", {"groups": groups})


@require_GET
@staff_only
def signals(request):
    return render(request, "console/signals.html", {"map": signal_map.document()})


# --- actions -----------------------------------------------------------------------------------


def _act(request, action, where: str, **target):
    """Run an operator action with the request's actor and reason; report its audit rows, or refuse (400)."""
    try:
        rows = action(**target, actor=actor(request), reason=_reason(request))
    except ValueError as exc:
        return _refuse(request, str(exc))
    for row in rows:
        messages.success(request, f"{row.action} {row.item_label}: {row.outcome} (trace {row.trace_id})")
    return redirect(where)


@require_POST
@staff_only
def retry_line(request, line_id):
    line = queries.line(line_id)
    if line is None:
        raise Http404(f"No order line {line_id}")
    return _act(request, actions.retry_line, reverse("console:order", args=[line.order.order_number]), line=line)


@require_POST
@staff_only
def retry_order(request, order_number):
    if queries.order_case(order_number) is None:
        raise Http404(f"No order {order_number}")
    where = reverse("console:order", args=[order_number])
    return _act(request, actions.retry_order, where, order_number=order_number)


@require_POST
@staff_only
def replay_event(request, event_pk):
    event = queries.event(event_pk)
    if event is None:
        raise Http404(f"No webhook event {event_pk}")
    where = reverse("console:order", args=[event.order_number]) if event.order_number else reverse("console:search")
    return _act(request, actions.replay_event, where, event=event)


@require_http_methods(["GET", "POST"])
@staff_only
def bulk(request, group_key):
    """GET: preview what a group's bulk action would touch; POST (reason, the previewed ids): do it."""
    group = queries.group(group_key)
    if group is None or not group.action:
        raise Http404("No such group (it may have been dealt with meanwhile).")
    if request.method == "GET":
        return render(request, "console/bulk_preview.html", {"group": group})

    def act_on_previewed(**who):
        rows = actions.bulk(group, request.POST.getlist("item"), **who)
        if not rows:
            messages.warning(request, "None of the previewed items needs it any more: nothing was done.")
        return rows

    return _act(request, act_on_previewed, reverse("console:attention"))
