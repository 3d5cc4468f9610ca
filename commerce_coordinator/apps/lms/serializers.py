import re

from rest_framework import serializers

from commerce_coordinator.apps.core.validation import ORDER_NUMBER, ORDER_NUMBER_RULE

from .models import Order, OrderLine

COURSE_RUN_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+~%-]{0,254}$")


class OrderLineSerializer(serializers.ModelSerializer):
    """A line as operators read it: `status` is the line's state (pending, fulfilled, failed,
    refund_pending, refunded, refund_failed), `work_status` the durable work item's own status."""

    status = serializers.CharField(source="state", read_only=True)
    work_status = serializers.CharField(source="status", read_only=True)
    last_attempt_at = serializers.DateTimeField(source="claimed_at", read_only=True)
    last_trace_id = serializers.CharField(source="trace_id", read_only=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)
    modified = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = OrderLine
        fields = [
            "course_run_key",
            "mode",
            "status",
            "action",
            "work_status",
            "attempts",
            "last_error",
            "last_status_code",
            "last_attempt_at",
            "next_attempt_at",
            "fulfilled_at",
            "refunded_at",
            "last_trace_id",
            "created",
            "modified",
        ]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "order_number",
            "lms_user_id",
            "lms_username",
            "status",
            "source",
            "provider",
            "payment_id",
            "amount",
            "refunded_amount",
            "currency",
            "trace_ids",
            "created",
            "modified",
            "fulfilled_at",
            "refunded_at",
            "lines",
        ]


class FulfillmentLineSerializer(serializers.Serializer):
    course_run_key = serializers.CharField(max_length=255)
    mode = serializers.CharField(max_length=64, required=False)

    def validate_course_run_key(self, value):
        if not COURSE_RUN_KEY.match(value):
            raise serializers.ValidationError("Not a course run key (e.g. course-v1:edX+DemoX+Demo_Course).")
        return value


class FulfillmentRequestSerializer(serializers.Serializer):
    """POST /api/v1/fulfillments/: a free or manual enrollment, fulfilled like a paid order."""

    order_number = serializers.CharField(max_length=128, help_text="Unique; a repeated number changes nothing.")
    lms_user_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    mode = serializers.CharField(max_length=64, required=False, help_text="Default mode for the lines.")
    lines = FulfillmentLineSerializer(many=True, allow_empty=False)

    def validate_order_number(self, value):
        if not ORDER_NUMBER.match(value):
            raise serializers.ValidationError(ORDER_NUMBER_RULE[:1].upper() + ORDER_NUMBER_RULE[1:] + ".")
        return value

    def validate_lines(self, value):
        keys = [line["course_run_key"] for line in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("A course run appears twice.")
        modes = {line.get("mode") for line in value}
        if len(modes) > 1:
            raise serializers.ValidationError("All lines of one request must use the same mode.")
        return value
