"""Admin for charge attempts (durable work items): what was asked, what the provider answered, retries."""

from django.contrib import admin
from django.utils.html import format_html_join

from .charges import ChargeAttempt


@admin.register(ChargeAttempt)
class ChargeAttemptAdmin(admin.ModelAdmin):
    list_display = ["idempotency_key", "invoice_number", "provider", "amount", "currency", "status", "result",
                    "decline", "attempts", "next_attempt_at", "created_at"]  # fmt: skip
    list_filter = ["status", "provider", "result", "decline"]
    search_fields = ["idempotency_key", "invoice_number", "charge_id", "trace_id"]
    readonly_fields = [f.name for f in ChargeAttempt._meta.fields] + ["operator_record"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a failed attempt is answered; a new attempt comes from invoicing (retry charge now)

    @admin.display(description="Confirmations and operator actions (core.WorkAudit)")
    def operator_record(self, obj):
        from commerce_coordinator.apps.core.models import WorkAudit

        audits = WorkAudit.objects.filter(item_type=ChargeAttempt._meta.label_lower, item_id=str(obj.pk))
        return format_html_join(
            "", "<p>{} {} by {}: {} &mdash; {} (trace {})</p>",
            ((a.created_at, a.action, a.actor, a.reason, a.outcome, a.trace_id) for a in audits.order_by("pk")),
        ) or "-"  # fmt: skip
