"""Trace rows live in the trace database (settings.CC_TRACE_DATABASE); everything else in default."""

from django.conf import settings

TRACE_MODELS = {"tracenode", "trace", "tracekey"}


def _is_trace_model(app_label: str, model_name: str | None) -> bool:
    return app_label == "core" and (model_name or "").lower() in TRACE_MODELS


class TraceDatabaseRouter:
    def db_for_read(self, model, **hints):
        if _is_trace_model(model._meta.app_label, model._meta.model_name):
            return settings.CC_TRACE_DATABASE
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if _is_trace_model(app_label, model_name):
            return db == settings.CC_TRACE_DATABASE
        return db != settings.CC_TRACE_DATABASE
