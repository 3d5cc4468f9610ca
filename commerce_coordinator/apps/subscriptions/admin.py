"""Operator views: plans (the managers' price setting), subscriptions with their event chain, the ledgers."""

from django.contrib import admin

from commerce_coordinator.apps.core.admin import ReadOnlyInline

from . import operations
from .models import Plan, ProviderMismatch, ReminderSent, Renewal, Subscription, SubscriptionEvent


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """The managers' price setting. Retiring a plan (unticking `active`) ends its subscriptions at period end."""

    list_display = ["code", "name", "price", "currency", "period_months", "trial_days", "active"]
    list_filter = ["active", "period_months", "currency"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        retiring = change and "active" in form.changed_data and not obj.active
        super().save_model(request, obj, form, change)
        if retiring:
            ended = operations.retire_plan(obj, f"admin:{request.user.get_username()}")
            self.message_user(request, f"Plan {obj.code} retired: {ended} subscription(s) end at their period end.")


class EventInline(ReadOnlyInline):
    model = SubscriptionEvent
    fields = ["seq", "action", "from_status", "to_status", "reason", "actor", "trace_id", "created"]


class RenewalInline(ReadOnlyInline):
    model = Renewal
    fields = ["period_start", "outcome", "payment", "invoice_number", "trace_id", "created"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Read-only: a status changes through the API, the bus or invoicing's answers (the event chain says who)."""

    list_display = ["id", "account_id", "plan", "status", "current_period_start", "current_period_end", "renews_on",
                    "cancel_at_period_end"]  # fmt: skip
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["=id", "=account_id", "provider_subscription_id"]
    readonly_fields = [f.name for f in Subscription._meta.fields]
    inlines = [EventInline, RenewalInline]

    def has_add_permission(self, request):
        return False


@admin.register(ProviderMismatch)
class ProviderMismatchAdmin(admin.ModelAdmin):
    list_display = ["created", "provider", "provider_subscription_id", "provider_status", "local_status", "resolved"]
    list_filter = ["resolved", "provider", "provider_status"]
    readonly_fields = ["provider", "provider_subscription_id", "provider_status", "subscription", "local_status",
                       "reason", "trace_id", "created"]  # fmt: skip


admin.site.register(ReminderSent, list_display=["subscription", "period_start", "days_before", "skipped", "created"])
