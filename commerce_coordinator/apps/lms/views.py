"""The LMS fulfillment API: order status for support and the LMS, and manual/free fulfillments."""

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_coordinator.apps.core import tracing, validation

from . import fulfillment
from .auth import AUTHENTICATION_CLASSES, PERMISSION_CLASSES
from .models import Order
from .serializers import FulfillmentRequestSerializer, OrderSerializer

ERROR = inline_serializer("Error", fields={"error": serializers.CharField(), "detail": serializers.JSONField()})


class LmsApiView(APIView):
    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = PERMISSION_CLASSES


def _order_or_404(order_number: str) -> Order:
    order = None
    if validation.is_order_number(order_number):
        order = Order.objects.prefetch_related("lines").filter(order_number=order_number).first()
    if order is None:
        raise NotFound(f"No order {order_number!r}.")
    return order


class OrderView(LmsApiView):
    @extend_schema(
        summary="An order, each line's fulfillment status, and the trace ids",
        responses={200: OrderSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request, order_number):
        return Response(OrderSerializer(_order_or_404(order_number)).data)


class FulfillmentView(LmsApiView):
    @extend_schema(
        summary="Fulfil an order given its user and lines (free or manual enrollments)",
        description="Recorded like a paid order and enrolled through the same tasks and retries. "
        "A repeated order number changes nothing and answers 200 with the order as it is.",
        request=FulfillmentRequestSerializer,
        responses={
            201: OpenApiResponse(OrderSerializer, description="Recorded; enrollment queued."),
            200: OpenApiResponse(OrderSerializer, description="This order number was already recorded."),
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: OpenApiResponse(ERROR, description="Refused: the number is another user's order, or too many runs."),
        },
    )
    def post(self, request):
        data = FulfillmentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        mode = values["lines"][0].get("mode") or values.get("mode")
        # The order's tasks join this request's trace.
        with tracing.span("request", "POST /api/v1/fulfillments/", request.user.get_username()) as node:
            try:
                with transaction.atomic():
                    result = fulfillment.record_order(
                        order_number=values["order_number"],
                        lms_user_id=values["lms_user_id"],
                        course_run_keys=[line["course_run_key"] for line in values["lines"]],
                        source=Order.Source.API,
                        mode=mode,
                    )
            except fulfillment.OrderRefused as exc:
                if node is not None:
                    node.outcome(tracing.ERROR, str(exc))
                return Response({"error": "refused", "detail": str(exc)}, status=status.HTTP_409_CONFLICT)
            if node is not None:
                node.result = tracing.short_repr(result)
        order = _order_or_404(values["order_number"])
        return Response(
            OrderSerializer(order).data, status=status.HTTP_201_CREATED if result["created"] else status.HTTP_200_OK
        )
