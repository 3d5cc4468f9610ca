from django.contrib import admin

from .models import DemoCharge


@admin.register(DemoCharge)
class DemoChargeAdmin(admin.ModelAdmin):
    list_display = ["provider", "idempotency_key", "token", "amount", "currency", "status_code", "calls", "created"]
    list_filter = ["provider", "status_code"]
    search_fields = ["idempotency_key", "token"]
