"""Operators see which bus commands were carried out, and open each one's trace."""

from django.contrib import admin
from django.utils.html import format_html

from .models import ProcessedMessage


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    list_display = ("message_id", "command", "processed_at", "trace_link")
    list_filter = ("command",)
    search_fields = ("message_id", "trace_id")
    readonly_fields = ("message_id", "command", "arguments", "trace_id", "processed_at", "trace_link")
    date_hierarchy = "processed_at"

    @admin.display(description="trace")
    def trace_link(self, obj):
        return format_html('<a href="/core/traces/{}/">{}</a>', obj.trace_id, obj.trace_id) if obj.trace_id else ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
