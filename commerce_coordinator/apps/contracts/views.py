"""The contracts API: one contract as the core and its backend plugin see it."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_coordinator.apps.core.api_auth import AUTHENTICATION_CLASSES, PERMISSION_CLASSES

from .models import Contract
from .serializers import ContractSerializer

ERROR = inline_serializer("ContractError", fields={"error": serializers.CharField(), "detail": serializers.JSONField()})


class ContractView(APIView):
    """GET /api/v1/contracts/<id>/: staff, or a service JWT (core's service-API authentication, as for orders)."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = PERMISSION_CLASSES

    @extend_schema(
        summary="A contract: its state, suspension reasons, dates, event log, and its backend's description",
        responses={200: ContractSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request, contract_id: int):
        contract = Contract.objects.prefetch_related("events").filter(pk=contract_id).first()
        if contract is None:
            raise NotFound(f"No contract {contract_id}.")
        return Response(ContractSerializer(contract).data)
