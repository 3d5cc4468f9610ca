"""System checks for CC_SIGNALS (`manage.py check`; also run when a web or worker process starts)."""

import sys

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from . import routing


@checks.register("commerce_coordinator")
def check_cc_signals(app_configs=None, **kwargs):
    """Every problem of CC_SIGNALS, as core.E0xx errors and core.W0xx warnings."""
    messages = []
    for problem in routing.analyse().all_problems():
        level = checks.Error if problem.id.startswith("core.E") else checks.Warning
        messages.append(level(problem.msg, hint=problem.hint, obj=problem.obj, id=problem.id))
    return messages


@checks.register("commerce_coordinator", checks.Tags.database)
def check_waffle_switches_exist(app_configs=None, databases=None, **kwargs):
    """core.W002: a declared switch missing from the database is always off (run provisioning)."""
    if not databases or "default" not in databases:
        return []
    from waffle.models import Switch

    declared = set(getattr(settings, "CC_WAFFLE_SWITCHES", {}))
    try:
        present = set(Switch.objects.filter(name__in=declared).values_list("name", flat=True))
    except DatabaseError:  # not migrated yet: `migrate` runs this check before it creates the table
        return []
    return [
        checks.Warning(
            f"Waffle switch {name!r} (CC_WAFFLE_SWITCHES) is not in the database, so it is off.",
            hint="Run `manage.py sync_switches` (production) or ./local-provision-commerce-coordinator.sh (local).",
            obj=name,
            id="core.W002",
        )
        for name in sorted(declared - present)
    ]


def refuse_to_start_on_errors() -> None:
    """Called by wsgi.py and the Celery worker: a configuration error stops the process."""
    from django.core.checks import run_checks
    from django.core.management.base import SystemCheckError

    try:
        warnings = check_waffle_switches_exist(databases=["default"])
    except Exception:  # no database at start-up: the health check reports it
        warnings = []
    for warning in warnings:  # loud, but not fatal
        print(f"WARNING {warning.id}: {warning.msg} HINT: {warning.hint}", file=sys.stderr)
    errors = [m for m in run_checks(include_deployment_checks=False) if m.is_serious()]
    if errors:
        raise SystemCheckError(
            "Commerce Coordinator refuses to start: its configuration has errors.\n"
            + "\n".join(f"{m.id}: {m.msg}\n    HINT: {m.hint}" for m in errors)
        )


@checks.register("commerce_coordinator")
def check_databases_migrated(app_configs=None, **kwargs):
    """core.W020: a database alias with unapplied migrations (e.g. traces after a bare Django `migrate`)."""
    from . import migration_state

    if migration_state.is_migrating():
        return []
    return [
        checks.Warning(
            f"Database alias {alias!r} has {count} unapplied migration(s): its tables may be missing.",
            hint=f"Run `{migration_state.fix_command(alias)}`.",
            obj=alias,
            id="core.W020",
        )
        for alias, count in migration_state.unmigrated_aliases().items()
    ]
