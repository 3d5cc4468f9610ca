import re

from rest_framework import serializers

from .models import Order, OrderLine

ORDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
COURSE_RUN_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+~%-]{0,254}$")


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [*OrderLine.OPERATOR_FIELDS, "created", "modified"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "order_number",
            "lms_user_id",
            "status",
            "source",
            "provider",
            "payment_id",
            "amount",
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
            raise serializers.ValidationError("Letters, digits and . _ : - only (at most 128).")
        return value

    def validate_lines(self, value):
        keys = [line["course_run_key"] for line in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("A course run appears twice.")
        modes = {line.get("mode") for line in value}
        if len(modes) > 1:
            raise serializers.ValidationError("All lines of one request must use the same mode.")
        return value
