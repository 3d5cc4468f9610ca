"""Orders and lines in the admin: read-only records (operators act from the console, which is audited)."""

from django.contrib import admin
from django.utils.html import format_html_join

from commerce_coordinator.apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, console_link

from .models import Order, OrderLine


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = readonly_fields = OrderLine.OPERATOR_FIELDS


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["order_number", "lms_user_id", "status", "provider", "payment_id", "created", "case_page"]
    list_filter = ["status", "source", "provider"]
    search_fields = ["order_number", "payment_id", "=lms_user_id"]
    readonly_fields = ["case_page", "trace_links"]
    inlines = [OrderLineInline]

    @admin.display(description="console")
    def case_page(self, obj):
        return console_link("order", obj.order_number, "case page")

    @admin.display(description="traces")
    def trace_links(self, obj):
        return format_html_join(", ", "{}", ((console_link("trace", t, t[:12] + "…"),) for t in obj.trace_ids)) or "-"


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = [
        "order",
        "course_run_key",
        "state",
        "status",
        "attempts",
        "last_status_code",
        "updated_at",
        "case_page",
    ]
    list_filter = ["action", "status"]
    search_fields = ["order__order_number", "course_run_key"]
    list_select_related = ["order"]

    @admin.display(description="console")
    def case_page(self, obj):
        return console_link("order", obj.order.order_number, "case page")
