"""System checks of the invoicing settings (manage.py check; stable ids invoicing.E001-E003)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_invoicing_settings(app_configs=None, **kwargs):
    errors = []
    ladder = getattr(settings, "INVOICING_DUNNING_LADDER", [])
    if not isinstance(ladder, list) or not all(
        isinstance(r, dict) and isinstance(r.get("level"), str) and r["level"] and isinstance(r.get("days"), int)
        for r in ladder
    ):
        errors.append(
            Error(
                "INVOICING_DUNNING_LADDER must be a list of {'level': str, 'days': int[, 'uncollectible': bool]}.",
                hint="e.g. [{'level': 'warning', 'days': 10}, {'level': 'cancellation', 'days': 21, "
                "'uncollectible': True}]",
                id="invoicing.E001",
            )
        )
    else:
        levels = [r["level"] for r in ladder]
        if len(set(levels)) != len(levels) or sum(bool(r.get("uncollectible")) for r in ladder) > 1:
            errors.append(
                Error(
                    "INVOICING_DUNNING_LADDER repeats a level or marks more than one level uncollectible.",
                    hint="Give each level one entry; only the last level ends the ladder (uncollectible).",
                    id="invoicing.E002",
                )
            )
    days = getattr(settings, "INVOICING_RETRY_DAYS", [])
    if not isinstance(days, list) or any(not isinstance(d, int | float) or d < 0 for d in days):
        errors.append(
            Error(
                "INVOICING_RETRY_DAYS must be a list of non-negative numbers of days.",
                hint="e.g. [1, 3, 5, 7] (INVOICING_RETRY_DAYS=1,3,5,7 in the environment).",
                id="invoicing.E003",
            )
        )
    return errors
