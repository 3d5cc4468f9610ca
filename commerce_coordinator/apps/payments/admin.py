"""The inbox in the admin: filter by provider, status (unroutable too) and type; read the payload and the
operator's metadata; open the trace; replay (core's requeue, with an audit row)."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from commerce_coordinator.apps.core.admin import ReadOnlyAdmin, console_link

from . import inbox
from .models import WebhookEvent
from .redaction import redact, redact_fields


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "provider",
        "type",
        "event_id",
        "status",
        "attempts",
        "case_page",
        "reason",
        "trace_link",
    ]
    list_filter = ["provider", "status", "type"]
    search_fields = ["event_id", "order_number", "payment_id", "trace_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "provider",
        "event_id",
        "type",
        "signal",
        "status",
        "attempts",
        "last_error",
        "last_status_code",
        "next_attempt_at",
        "case_page",
        "payment_id",
        "claim_token",
        "claimed_at",
        "trace_link",
        "created_at",
        "finished_at",
        "updated_at",
        "metadata_override",
        "payload_pretty",
    ]
    fields = readonly_fields
    actions = ["replay_events", "replay_events_force"]

    @admin.display(description="order", ordering="order_number")
    def case_page(self, obj):
        return console_link("order", obj.order_number)

    @admin.display(description="reason / last error")
    def reason(self, obj):
        return (obj.last_error or "")[:120]

    @admin.display(description="trace")
    def trace_link(self, obj):
        return console_link("trace", obj.trace_id, f"{obj.trace_id[:12]}…" if obj.trace_id else None)

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        shown = json.dumps(redact_fields(obj.payload), indent=2, sort_keys=True, default=str)
        return format_html("<pre>{}</pre>", redact(shown))

    def _replay(self, request, queryset, force):
        done = inbox.replay(
            queryset.order_by("created_at"),
            force=force,
            actor=request.user.get_username(),
            reason="replayed from the admin",
        )
        for event, what in done:
            self.message_user(request, f"{event.provider}:{event.event_id} ({event.type}): {what}", messages.INFO)
        replayed = sum(1 for _, what in done if what.startswith("replayed"))
        self.message_user(request, f"Replayed {replayed} of {len(done)} event(s).", messages.SUCCESS)

    @admin.action(description="Replay selected events (failed, received, unroutable)", permissions=["view"])
    def replay_events(self, request, queryset):
        self._replay(request, queryset, force=False)

    @admin.action(description="Replay selected events, processed ones too (force)", permissions=["view"])
    def replay_events_force(self, request, queryset):
        self._replay(request, queryset, force=True)


from .charge_admin import ChargeAttemptAdmin  # noqa: E402,F401  (charges of saved payment methods)
from .refund_admin import RefundAttemptAdmin  # noqa: E402,F401  (refunds of invoice payments)
