"""The subscriptions API (service JWT or staff, like invoicing's billing API), under /api/v1/billing/.

Writes take an Idempotency-Key header: the answer is stored under it in the write's own transaction, so
a repeat (even a concurrent one) gets the first answer and changes nothing. Errors are JSON {"error", "detail"}.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_coordinator.apps.core import api_writes, tracing
from commerce_coordinator.apps.core.api_auth import AUTHENTICATION_CLASSES, PERMISSION_CLASSES

from . import operations
from .billing import BillingFailed
from .models import ApiWrite, Subscription, SubscriptionStatus
from .serializers import SubscribeRequestSerializer, SubscriptionDetailSerializer, SubscriptionSerializer
from .states import InvalidTransition, StaleSubscription

ERROR = inline_serializer(
    "SubscriptionError", fields={"error": serializers.CharField(), "detail": serializers.JSONField()}
)
IDEMPOTENCY_KEY = api_writes.IDEMPOTENCY_KEY


class SubscriptionsApiView(APIView):
    """Staff session, throttled Basic or a service JWT: core's API authentication (ADR 0021)."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = PERMISSION_CLASSES


def idempotent(request, write) -> Response:
    """Run `write(actor)` once per Idempotency-Key (core.api_writes, with this app's ApiWrite)."""
    return api_writes.idempotent(request, write, ApiWrite)


def _conflict(exc: Exception) -> tuple[int, dict]:
    return status.HTTP_409_CONFLICT, {"error": "conflict", "detail": str(exc)}


class SubscriptionListView(SubscriptionsApiView):
    @extend_schema(
        summary="Subscribe an account to a plan (a trial starts at once; otherwise the first period is billed now)",
        request=SubscribeRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: SubscriptionSerializer, 400: ERROR, 409: ERROR, 503: ERROR},
    )
    def post(self, request):
        data = SubscribeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def write(actor):
            with tracing.span("request", "POST subscribe", actor, account_id=values["account"]):
                try:
                    with transaction.atomic():
                        made = operations.subscribe(values["account"], values["plan"], actor,
                                                    values["provider_subscription_id"])  # fmt: skip
                except operations.SubscribeRefused as exc:
                    return status.HTTP_400_BAD_REQUEST, {"error": "subscribe_refused", "detail": str(exc)}
                except BillingFailed as exc:
                    return status.HTTP_503_SERVICE_UNAVAILABLE, {"error": "billing_unavailable", "detail": str(exc)}
                made.refresh_from_db()
                return status.HTTP_201_CREATED, SubscriptionSerializer(made).data

        return idempotent(request, write)


def _subscription(subscription_id: int) -> Subscription:
    found = Subscription.objects.select_related("plan").filter(pk=subscription_id).first()
    if found is None:
        raise NotFound(f"No subscription {subscription_id}.")
    return found


class SubscriptionView(SubscriptionsApiView):
    @extend_schema(
        summary="A subscription and its event chain", responses={200: SubscriptionDetailSerializer, 404: ERROR}
    )
    def get(self, request, subscription_id):
        return Response(SubscriptionDetailSerializer(_subscription(subscription_id)).data)

    @extend_schema(
        summary="Unsubscribe: at period end by default, at once with ?immediately=true",
        parameters=[IDEMPOTENCY_KEY, OpenApiParameter("immediately", bool, required=False)],
        responses={200: SubscriptionSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def delete(self, request, subscription_id):
        flag = request.query_params.get("immediately", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise ValidationError({"immediately": "true or false"})
        subscription = _subscription(subscription_id)

        def write(actor):
            try:
                operations.cancel(subscription, flag in ("true", "1"), actor)
            except (InvalidTransition, StaleSubscription) as exc:
                return _conflict(exc)
            return status.HTTP_200_OK, SubscriptionSerializer(subscription).data

        return idempotent(request, write)


class AccountSubscriptionsView(SubscriptionsApiView):
    @extend_schema(
        summary="An account's subscriptions, newest first",
        parameters=[OpenApiParameter("status", str, enum=SubscriptionStatus.values, required=False)],
        responses={200: SubscriptionSerializer(many=True), 400: ERROR},
    )
    def get(self, request, account_id):
        subscriptions = Subscription.objects.select_related("plan").filter(account_id=account_id).order_by("-pk")
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in SubscriptionStatus.values:
                raise ValidationError({"status": f"one of {', '.join(SubscriptionStatus.values)}"})
            subscriptions = subscriptions.filter(status=wanted)
        return Response({"account": account_id, "results": SubscriptionSerializer(subscriptions, many=True).data})
