from django.contrib import admin

from .models import DemoCharge, DemoRefund


@admin.register(DemoCharge)
class DemoChargeAdmin(admin.ModelAdmin):
    list_display = ["provider", "idempotency_key", "token", "amount", "currency", "status_code", "calls", "created"]
    list_filter = ["provider", "status_code"]
    search_fields = ["idempotency_key", "token"]


@admin.register(DemoRefund)
class DemoRefundAdmin(admin.ModelAdmin):
    list_display = ["provider", "idempotency_key", "payment_id", "amount", "succeeded", "status_code", "calls"]
    list_filter = ["provider", "succeeded"]
    search_fields = ["idempotency_key", "payment_id"]
