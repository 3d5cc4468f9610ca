"""Admin for refund attempts (durable work items): what was asked, what the provider answered, retries."""

from django.contrib import admin

from .refunds import RefundAttempt


@admin.register(RefundAttempt)
class RefundAttemptAdmin(admin.ModelAdmin):
    list_display = ["idempotency_key", "invoice_number", "provider", "amount", "currency", "status", "result",
                    "attempts", "next_attempt_at", "created_at"]  # fmt: skip
    list_filter = ["status", "provider", "result"]
    search_fields = ["idempotency_key", "invoice_number", "payment_id", "refund_id", "trace_id"]
    readonly_fields = [f.name for f in RefundAttempt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a refund is requested by invoicing (refund_invoice, the API, the admin panel)
