from django.contrib import admin

from .models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = OrderLine.OPERATOR_FIELDS
    readonly_fields = OrderLine.OPERATOR_FIELDS


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_number", "lms_user_id", "status", "source", "provider", "created"]
    list_filter = ["status", "source", "provider"]
    search_fields = ["order_number", "payment_id"]
    readonly_fields = ["trace_ids", "created", "modified", "fulfilled_at", "refunded_at", "refunded_amount"]
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = [
        "order",
        "course_run_key",
        "state",
        "action",
        "status",
        "attempts",
        "last_status_code",
        "updated_at",
    ]
    list_filter = ["action", "status"]
    search_fields = ["order__order_number", "course_run_key"]
    raw_id_fields = ["order"]
    readonly_fields = ["state", "claim_token", "claimed_at", "trace_id", "created_at", "updated_at", "finished_at"]
