from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import OperatorAction


@admin.register(OperatorAction)
class OperatorActionAdmin(admin.ModelAdmin):
    """The audit is read-only: it records what operators did."""

    list_display = ["created_at", "actor", "action", "target", "order_link", "trace_id"]
    list_filter = ["action", "actor"]
    search_fields = ["order_number", "target", "reason", "trace_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="order")
    def order_link(self, obj):
        if not obj.order_number:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("console:order", args=[obj.order_number]), obj.order_number)
