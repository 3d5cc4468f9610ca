"""What the subscriptions API takes and shows."""

from rest_framework import serializers

from .models import Subscription, SubscriptionEvent


class SubscribeRequestSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1, help_text="The invoicing account billed.")
    plan = serializers.SlugField(max_length=64, help_text="The plan's code, e.g. demo-monthly.")
    provider_subscription_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class SubscriptionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriptionEvent
        fields = ["seq", "action", "from_status", "to_status", "reason", "actor", "trace_id", "created"]


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.SlugRelatedField(slug_field="code", read_only=True)
    price = serializers.DecimalField(source="plan.price", max_digits=12, decimal_places=2, read_only=True)
    currency = serializers.CharField(source="plan.currency", read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "account_id", "plan", "price", "currency", "status", "current_period_start",
                  "current_period_end", "renews_on", "trial_ends_on", "cancel_at_period_end", "created",
                  "ended_at"]  # fmt: skip


class SubscriptionDetailSerializer(SubscriptionSerializer):
    events = SubscriptionEventSerializer(many=True, read_only=True)

    class Meta(SubscriptionSerializer.Meta):
        fields = SubscriptionSerializer.Meta.fields + ["events"]
