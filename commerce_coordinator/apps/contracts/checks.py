"""System checks of contracts: the backend-plugin registry (contracts.E001-E003) and backends named in data."""

from django.core import checks
from django.db import DatabaseError

from . import registry


@checks.register("commerce_coordinator")
def check_contract_backends(app_configs=None, **kwargs):
    """contracts.E001 a plugin path that does not import, E002 not a plugin, E003 a malformed entry."""
    return [
        checks.Error(p.msg, hint=p.hint, obj=f"CC_CONTRACT_BACKENDS[{p.backend!r}]", id=p.id)
        for p in registry.problems()
    ]


@checks.register("commerce_coordinator", checks.Tags.database)
def check_backends_in_data_are_configured(app_configs=None, databases=None, **kwargs):
    """contracts.W001: contracts name a backend CC_CONTRACT_BACKENDS does not list (their calls cannot succeed)."""
    if not databases or "default" not in databases:
        return []
    from .models import Contract

    try:
        named = set(Contract.objects.values_list("backend", flat=True).distinct())
    except DatabaseError:  # not migrated yet
        return []
    return [
        checks.Warning(
            f"Contracts name backend {name!r}, which CC_CONTRACT_BACKENDS does not list: "
            "their backend calls dead-letter into manual tasks.",
            hint=f"Add {name!r} to CC_CONTRACT_BACKENDS (its plugin's class path, or None for no plugin).",
            obj=name,
            id="contracts.W001",
        )
        for name in sorted(named - set(registry.configured()))
    ]
