"""What the billing API shows of accounts and invoices."""

from decimal import Decimal

from rest_framework import serializers

from .models import Account, Invoice, InvoiceCharge, InvoiceEvent, InvoiceLine, InvoiceRefund


class AccountSerializer(serializers.ModelSerializer):
    has_payment_method = serializers.BooleanField(read_only=True)

    class Meta:
        model = Account
        fields = ["id", "lms_user_id", "email", "currency", "status", "payment_provider", "has_payment_method",
                  "dunning_level", "dunning_since", "created"]  # fmt: skip


class InvoiceSummarySerializer(serializers.ModelSerializer):
    period = serializers.CharField(source="period_label")

    class Meta:
        model = Invoice
        fields = ["id", "number", "account", "period", "period_start", "period_end", "state", "currency", "total",
                  "amount_paid", "amount_refunded", "due_date", "payment_overdue", "attempts",
                  "next_attempt_at"]  # fmt: skip


class LineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["kind", "description", "quantity", "unit_price", "amount", "product"]


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceEvent
        fields = ["seq", "action", "from_state", "to_state", "reason", "actor", "trace_id", "created"]


class ChargeSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceCharge
        fields = ["attempt", "idempotency_key", "provider", "amount", "currency", "status", "result", "decline",
                  "provider_status", "response_code", "response_text", "reject_reason", "message", "charge_id",
                  "trace_id", "requested_at", "answered_at"]  # fmt: skip


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceRefund
        fields = ["seq", "idempotency_key", "provider", "payment_id", "amount", "currency", "status", "reason",
                  "actor", "refund_id", "provider_status", "message", "trace_id", "requested_at",
                  "answered_at"]  # fmt: skip


class InvoiceSerializer(InvoiceSummarySerializer):
    lines = LineSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)
    charges = ChargeSerializer(many=True, read_only=True)
    refunds = RefundSerializer(many=True, read_only=True)
    trace_ids = serializers.SerializerMethodField()

    class Meta(InvoiceSummarySerializer.Meta):
        fields = [*InvoiceSummarySerializer.Meta.fields, "subtotal", "finalized_at", "paid_at", "last_error",
                  "lines", "events", "charges", "refunds", "trace_ids"]  # fmt: skip

    def get_trace_ids(self, invoice) -> list[str]:
        seen = [e.trace_id for e in invoice.events.all()] + [c.trace_id for c in invoice.charges.all()]
        seen += [r.trace_id for r in invoice.refunds.all()]
        return list(dict.fromkeys(t for t in seen if t))


class PayRequestSerializer(serializers.Serializer):
    """Optionally save a new payment method on the account first (then it is charged)."""

    provider = serializers.ChoiceField(choices=["stripe", "cloudpayments"], required=False)
    payment_token = serializers.CharField(max_length=255, required=False)
    reason = serializers.CharField(max_length=500, required=False, default="paid through the billing API")

    def validate(self, data):
        if bool(data.get("provider")) != bool(data.get("payment_token")):
            raise serializers.ValidationError("give both provider and payment_token, or neither")
        return data


class RefundRequestSerializer(serializers.Serializer):
    """Refund a paid invoice: `amount` of it, or (left out) all that is still refundable."""

    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
                                      allow_null=True, help_text="Default: all that is still refundable.")  # fmt: skip
    reason = serializers.CharField(max_length=500, help_text="Why (recorded on the refund and the invoice's chain).")
