"""How a contract is shown: the core's fields, with `backend` as its plugin describes it."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import clients
from .models import Contract, ContractEvent


class ContractEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContractEvent
        fields = ["from_state", "to_state", "reason", "actor", "why", "trace_id", "created_at"]


class ContractSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(read_only=True)
    backend = serializers.SerializerMethodField()
    backend_name = serializers.CharField(source="backend", read_only=True)
    events = ContractEventSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "name",
            "lms_user_id",
            "product",
            "package",
            "state",
            "active",
            "activated",
            "suspension_reasons",
            "backend",
            "backend_name",
            "created_at",
            "activated_at",
            "suspended_at",
            "cancelled_at",
            "events",
        ]

    @extend_schema_field(OpenApiTypes.ANY)  # the plugin's JSON description, or the backend's name
    def get_backend(self, obj):
        return clients.describe(obj)
