"""The waffle switches that CC_SIGNALS may name are declared in settings.CC_WAFFLE_SWITCHES; this creates them."""

from django.conf import settings


def ensure_declared_switches() -> list[tuple[str, bool, bool]]:
    """Create each declared switch that is missing, with its declared state; an existing one keeps the
    state an operator gave it. Returns (name, created, active) for every declared switch."""
    from waffle.models import Switch

    report = []
    for name, spec in getattr(settings, "CC_WAFFLE_SWITCHES", {}).items():
        switch, created = Switch.objects.get_or_create(
            name=name, defaults={"active": bool(spec.get("active", False)), "note": spec.get("note", "")}
        )
        report.append((name, created, switch.active))
    return report
