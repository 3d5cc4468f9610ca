from rest_framework import serializers

from .models import Trace, TraceNode


class TraceSummarySerializer(serializers.ModelSerializer):
    """A trace in the trace list: its root, named after what it is about, with its worst node's status."""

    name = serializers.CharField(source="title")
    signal = serializers.CharField(source="name")
    status = serializers.CharField(source="trace_status")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Trace
        fields = ["trace_id", "name", "signal", "kind", "sender", "status", "started_at", "duration_ms", "url"]

    def get_url(self, obj) -> str:
        return f"/core/traces/{obj.trace_id}/"


class TraceNodeSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = TraceNode
        fields = [
            "id",
            "kind",
            "name",
            "sender",
            "status",
            "started_at",
            "duration_ms",
            "result",
            "task_id",
            "attempt",
            "next_attempt_at",
            "error",
        ]

    def get_error(self, obj) -> dict | None:
        if not obj.error_type:
            return None
        return {"type": obj.error_type, "message": obj.error_message, "traceback": obj.traceback}


def build_tree(nodes) -> list[dict]:
    """Nest nodes under their parents; a node whose parent is not stored (yet) stands at the top."""
    by_id = {}
    for node in nodes:
        data = TraceNodeSerializer(node).data
        data["children"] = []
        by_id[node.id] = (node, data)
    roots = []
    for node, data in by_id.values():
        parent = by_id.get(node.parent_id)
        (parent[1]["children"] if parent else roots).append(data)
    return roots
