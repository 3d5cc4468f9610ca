from django.contrib import admin

from .models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = OrderLine.OPERATOR_FIELDS
    exclude = ["task_token"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_number", "lms_user_id", "status", "source", "provider", "created"]
    list_filter = ["status", "source", "provider"]
    search_fields = ["order_number", "payment_id"]
    readonly_fields = ["trace_ids", "created", "modified", "fulfilled_at", "refunded_at"]
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "course_run_key", "status", "attempts", "last_status_code", "modified"]
    list_filter = ["status"]
    search_fields = ["order__order_number", "course_run_key"]
    raw_id_fields = ["order"]
