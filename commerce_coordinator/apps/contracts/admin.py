"""Contracts in the admin: contracts with their event log and backend description, backend calls, and the
manual tasks (dead-lettered backend calls) with an audited retry."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from . import clients, lifecycle, operations, registry
from .models import BackendCall, Contract, ContractEvent, ManualTask, Reason


class ContractEventInline(admin.TabularInline):
    model = ContractEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "from_state", "to_state", "reason", "actor", "why", "trace_id"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


def _apply(modeladmin, request, queryset, change, done: str):
    """Run a lifecycle operation on each selected contract; refusals are reported, the others go on."""
    changed = refused = 0
    for contract in queryset:
        try:
            changed += change(contract, f"admin:{request.user.get_username()}") is not None
        except lifecycle.TransitionRefused as exc:
            refused += 1
            modeladmin.message_user(request, str(exc), messages.WARNING)
    modeladmin.message_user(request, f"{changed} contract(s) {done}; {refused} refused.")


class ContractForm(forms.ModelForm):
    class Meta:
        model = Contract
        fields = ["name", "lms_user_id", "product", "package", "backend"]

    def clean_backend(self):
        backend = self.cleaned_data["backend"]
        if backend not in registry.configured():
            known = ", ".join(registry.configured()) or "none"
            raise forms.ValidationError(f"{backend!r} is not in CC_CONTRACT_BACKENDS (configured: {known}).")
        return backend


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    """A new contract is recorded (and activated) through the lifecycle; an existing one changes only by actions."""

    form = ContractForm
    list_display = ["id", "name", "lms_user_id", "product", "backend", "state", "activated", "created_at"]
    list_filter = ["state", "backend", "activated"]
    search_fields = ["name", "product", "=lms_user_id", "=id"]
    readonly_fields = [
        "state",
        "suspension_reasons",
        "activated",
        "backend_data",
        "backend_description",
        "created_at",
        "activated_at",
        "suspended_at",
        "cancelled_at",
        "updated_at",
    ]
    inlines = [ContractEventInline]
    actions = ["suspend_by_admin", "clear_admin_suspension", "cancel_contracts"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*ContractForm.Meta.fields, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable: the actions change a contract
        created = lifecycle.create_contract(**form.cleaned_data, actor=f"admin:{request.user.get_username()}")
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.display(description="backend (as its plugin describes it)")
    def backend_description(self, obj):
        return clients.describe(obj)

    @admin.action(description="Suspend (reason: admin)")
    def suspend_by_admin(self, request, queryset):
        _apply(self, request, queryset, lambda c, who: lifecycle.suspend(c, Reason.ADMIN, actor=who), "suspended")

    @admin.action(description="Clear the admin suspension")
    def clear_admin_suspension(self, request, queryset):
        _apply(self, request, queryset, lambda c, who: lifecycle.resume(c, Reason.ADMIN, actor=who), "cleared")

    @admin.action(description="Cancel")
    def cancel_contracts(self, request, queryset):
        _apply(self, request, queryset, lambda c, who: lifecycle.cancel(c, actor=who), "cancelling")


class CallAdmin(admin.ModelAdmin):
    list_display = ["id", "contract", "backend", "action", "status", "attempts", "last_status_code", "updated_at"]
    list_filter = ["status", "backend", "action"]
    search_fields = ["=contract__id", "contract__name", "last_error", "trace_id"]
    raw_id_fields = ["contract"]
    exclude = ["claim_token"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "claim_token"]

    def has_add_permission(self, request):
        return False


admin.site.register(BackendCall, CallAdmin)


class RetryForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What was fixed (kept in the audit).")


@admin.register(ManualTask)
class ManualTaskAdmin(CallAdmin):
    """Dead-lettered backend calls: fix the cause, then retry them here (an audit row per retry)."""

    list_display = ["id", "contract", "backend", "action", "attempts", "last_error", "finished_at"]
    actions = ["retry"]

    @admin.action(description="Retry the selected manual tasks")
    def retry(self, request, queryset):
        form = RetryForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            who = f"admin:{request.user.get_username()}"
            done = operations.retry_manual_tasks(
                queryset.values_list("pk", flat=True), actor=who, reason=form.cleaned_data["reason"]
            )
            self.message_user(request, f"{len(done)} backend call(s) re-queued.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Retry manual tasks",
            "form": form,
            "tasks": queryset,
            "action": "retry",
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "contracts/admin/retry_manual_tasks.html", context)
