"""Traces in the admin: one row per trace with its status, and each one's tree of nodes (read-only)."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from .errors import DatabaseUnavailableAdminMixin
from .models import Trace, TraceKey, TraceNode, WorkAudit


class ReadOnlyAdmin(DatabaseUnavailableAdminMixin, admin.ModelAdmin):
    """Records operators read but never edit: no add, change or delete (the admin shows them read-only)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown inside their parent's page (lines, event chains) that operators never add, edit or delete."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def console_link(url_name: str, key, text=None):
    """A link to a record's page in the operator console (by URL name: the core imports no console code)."""
    if not key:
        return "-"
    try:
        url = reverse(f"console:{url_name}", args=[key])
    except NoReverseMatch:  # the console is not mounted
        return text or key
    return format_html('<a href="{}">{}</a>', url, text or key)


def short_path(path: str) -> str:
    return path.removeprefix("commerce_coordinator.apps.")


class NodeColumns:
    """List columns shared by the trace and node lists: compact duration, link to the console's waterfall."""

    @admin.display(description="ms", ordering="duration_ms")
    def ms(self, obj):
        return f"{obj.duration_ms:.1f}"

    @admin.display(description="console")
    def console(self, obj):
        return console_link("trace", obj.trace_id, f"{obj.trace_id[:8]}…")


class TraceStatusFilter(admin.SimpleListFilter):
    """The whole trace's status: error when any node failed (a task in a worker, a nested receiver...)."""

    title = "trace status"
    parameter_name = "trace_status"

    def lookups(self, request, model_admin):
        return [("ok", "ok"), ("retry", "retry"), ("error", "error")]

    def queryset(self, request, queryset):
        if self.value() in ("ok", "retry", "error"):
            return queryset.with_trace_status(self.value())
        return queryset


@admin.register(Trace)
class TraceAdmin(NodeColumns, ReadOnlyAdmin):
    list_display = ["started_at", "what", "trace_status", "ms", "console"]
    list_filter = [TraceStatusFilter, "kind", "started_at"]
    search_fields = ["trace_id", "name", "subject", "sender"]
    readonly_fields = ["trace_id", "name", "sender", "status", "started_at", "duration_ms", "tree"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).with_status()

    def get_search_results(self, request, queryset, search_term):
        """Also find traces by a business key's value (an order number, a payment id, an LMS user id...)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            keyed = TraceKey.objects.filter(value=search_term.strip()).values("trace_id")
            found = found | queryset.filter(trace_id__in=keyed)
        return found, may_have_duplicates

    @admin.display(description="what", ordering="name")
    def what(self, obj):
        return short_path(obj.title)

    @admin.display(description="status")
    def trace_status(self, obj):
        return obj.trace_status.upper()

    @admin.display(description="trace tree")
    def tree(self, obj):
        nodes = list(TraceNode.objects.filter(trace_id=obj.trace_id).order_by("started_at"))
        depth = {}
        by_id = {n.id: n for n in nodes}
        for node in nodes:
            depth[node.id] = depth.get(node.parent_id, -1) + 1 if node.parent_id in by_id else 0
        rows = [
            (depth[n.id] * 24, n.kind, n.name, n.status, f"{n.duration_ms:.2f}", n.error_type, n.error_message)
            for n in nodes
        ]
        return format_html(
            "<table><tr><th>node</th><th>status</th><th>ms</th><th>error</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td style="padding-left:{}px">{} {}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>',
                rows,
            ),
        )


@admin.register(TraceNode)
class TraceNodeAdmin(NodeColumns, ReadOnlyAdmin):
    list_display = ["started_at", "kind", "short_name", "status", "ms", "console"]
    list_filter = ["kind", "status", "started_at"]
    search_fields = ["trace_id", "name", "task_id", "error_type"]

    @admin.display(description="name", ordering="name")
    def short_name(self, obj):
        return short_path(obj.name)[:90]


@admin.register(WorkAudit)
class WorkAuditAdmin(ReadOnlyAdmin):
    """What operators did to durable work (retries, replays): a record, never edited."""

    list_display = ["created_at", "actor", "action", "item_label", "reason", "console"]
    list_filter = ["action", "item_type"]
    search_fields = ["item_label", "item_id", "actor", "reason", "trace_id"]

    @admin.display(description="trace")
    def console(self, obj):
        return console_link("trace", obj.trace_id, f"{obj.trace_id[:8]}…" if obj.trace_id else None)
