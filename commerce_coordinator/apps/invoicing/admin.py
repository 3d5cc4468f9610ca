"""Operator views: accounts with their products, invoices with their event chain as a timeline, runs.

Invoice actions (retry charge now, void, mark uncollectible, refund in full) ask for a reason first and go
through invoicing.operations, so the chain records the operator and the reason (a refund also a core.WorkAudit).
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from commerce_coordinator.apps.core.admin import ReadOnlyAdmin, ReadOnlyInline

from . import operations
from .models import Account, BillingRun, Invoice, InvoiceCharge, InvoiceEvent, InvoiceLine, InvoiceRefund, Product
from .refunds import RefundRefused
from .states import InvalidTransition, StaleInvoice


class ProductInline(admin.TabularInline):
    model = Product
    extra = 0
    fields = ["name", "price", "period_months", "starts_on", "active", "quota", "used", "initial_steps",
              "extra_steps", "step_price"]  # fmt: skip


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["id", "lms_user_id", "email", "currency", "status", "payment_provider", "dunning_level"]
    list_filter = ["status", "payment_provider", "dunning_level"]
    search_fields = ["=id", "=lms_user_id", "email"]
    readonly_fields = ["dunning_level", "dunning_since", "created"]
    inlines = [ProductInline]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "price", "period_months", "quota", "used", "initial_steps", "extra_steps"]
    list_filter = ["period_months", "active"]
    search_fields = ["name", "=account__id", "=account__lms_user_id"]
    raw_id_fields = ["account"]


class LineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ["kind", "description", "quantity", "unit_price", "amount"]


class ChargeInline(ReadOnlyInline):
    model = InvoiceCharge
    fields = ["attempt", "idempotency_key", "status", "result", "decline", "reject_reason", "message",
              "requested_at", "answered_at", "trace_id"]  # fmt: skip


class RefundInline(ReadOnlyInline):
    model = InvoiceRefund
    fields = ["seq", "idempotency_key", "amount", "currency", "status", "actor", "reason", "refund_id", "message",
              "requested_at", "answered_at", "trace_id"]  # fmt: skip


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="Recorded in the chain.")


def _reasoned_action(operation, label: str):
    """An admin action that first asks for a reason, then applies `operation` to each selected invoice."""

    def action(modeladmin, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **modeladmin.admin_site.each_context(request),
                **{"form": form, "invoices": queryset, "label": label, "opts": modeladmin.model._meta},
                "action": request.POST.get("action"),
            }
            return TemplateResponse(request, "admin/invoicing/invoice/action_reason.html", context)
        actor = f"admin:{request.user.get_username()}"
        for invoice in queryset.select_related("account"):
            try:
                operation(invoice, actor, form.cleaned_data["reason"])
            except (InvalidTransition, StaleInvoice, RefundRefused) as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                modeladmin.message_user(request, f"{label}: {invoice}", messages.SUCCESS)
        return None

    action.__name__ = operation.__name__
    action.short_description = f"{label} (asks for a reason)"
    return action


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "account", "period_start", "state", "total", "currency", "attempts",
                    "next_attempt_at", "payment_overdue"]  # fmt: skip
    list_filter = ["state", "payment_overdue", "period_start", "charge_in_flight"]
    search_fields = ["number", "=account__id", "=account__lms_user_id"]
    date_hierarchy = "period_start"
    list_select_related = ["account"]
    inlines = [LineInline, ChargeInline, RefundInline]
    actions = [
        _reasoned_action(operations.retry_charge_now, "Retry charge now"),
        _reasoned_action(operations.void, "Void"),
        _reasoned_action(operations.mark_uncollectible, "Mark uncollectible"),
        _reasoned_action(operations.refund, "Refund in full"),
    ]
    fields = ["number", "account", "period_start", "period_end", "state", "currency", "subtotal", "total",
              "amount_paid", "amount_refunded", "due_date", "payment_overdue", "attempts", "next_attempt_at",
              "charge_in_flight", "last_error", "finalized_at", "paid_at", "timeline"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.fields  # the state changes only through the actions (the transition function)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Event chain")
    def timeline(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><b>{}</b></td><td>{} &rarr; {}</td><td>{}</td>"
            "<td>{}</td><td><a href='/core/traces/{}/'>{}</a></td></tr>",
            (
                (
                    e.seq,
                    f"{e.created:%Y-%m-%d %H:%M:%S}",
                    e.action,
                    e.from_state or "∅",
                    e.to_state,
                    e.actor,
                    e.reason,
                    e.trace_id,
                    e.trace_id[:8],
                )  # fmt: skip
                for e in obj.events.order_by("seq")
            ),
        )
        return format_html(
            "<table><tr><th>#</th><th>when</th><th>action</th><th>state</th><th>who</th><th>why</th>"
            "<th>trace</th></tr>{}</table>",
            rows,
        )


@admin.register(InvoiceEvent)
class InvoiceEventAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "seq", "action", "from_state", "to_state", "actor", "created"]
    list_filter = ["action", "to_state"]
    search_fields = ["invoice__number", "trace_id"]


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "command", "period_start", "status", "dry_run", "started_at", "finished_at", "counters"]
    list_filter = ["command", "status"]
    readonly_fields = [f.name for f in BillingRun._meta.fields]

    def has_add_permission(self, request):
        return False
