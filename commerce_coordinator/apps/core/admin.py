"""Traces in the admin: top-level sends with their status, and each one's tree of nodes."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from .errors import DatabaseUnavailableAdminMixin
from .models import Trace, TraceNode


class ReadOnlyAdmin(DatabaseUnavailableAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TraceStatusFilter(admin.SimpleListFilter):
    """The whole trace's status: error when any node failed (a task in a worker, a nested receiver...)."""

    title = "trace status"
    parameter_name = "trace_status"

    def lookups(self, request, model_admin):
        return [("ok", "ok"), ("error", "error")]

    def queryset(self, request, queryset):
        if self.value() in ("ok", "error"):
            return queryset.filter(has_error=self.value() == "error")
        return queryset


@admin.register(Trace)
class TraceAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "name", "sender", "trace_status", "duration_ms", "trace_id"]
    list_filter = [TraceStatusFilter, "name", "started_at"]
    search_fields = ["trace_id", "name", "sender"]
    readonly_fields = ["trace_id", "name", "sender", "status", "started_at", "duration_ms", "tree"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).with_status()

    @admin.display(description="status")
    def trace_status(self, obj):
        return "error" if obj.has_error else obj.status

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
class TraceNodeAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "kind", "name", "status", "duration_ms", "trace_id"]
    list_filter = ["kind", "status", "started_at"]
    search_fields = ["trace_id", "name", "task_id", "error_type"]
