"""The core's `migrate`, in process: every alias without --database, one alias with it."""

from io import StringIO

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core import migration_state
from commerce_coordinator.apps.core.checks import check_databases_migrated
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_without_database_every_alias_is_migrated():
    out = StringIO()
    call_command("migrate", interactive=False, stdout=out)
    assert [line for line in out.getvalue().splitlines() if line.startswith("Database alias")] == [
        "Database alias 'default':",
        "Database alias 'traces':",
    ]
    assert out.getvalue().count("No migrations to apply") == 2


def test_with_database_only_that_alias():
    out = StringIO()
    call_command("migrate", database="traces", interactive=False, stdout=out)
    assert "Database alias" not in out.getvalue() and "No migrations to apply" in out.getvalue()


def test_the_check_names_an_unmigrated_alias_but_not_while_migrate_runs(monkeypatch):
    assert check_databases_migrated() == []
    on_disk = migration_state.expected_migrations()
    monkeypatch.setattr(migration_state, "expected_migrations", lambda: on_disk | {("core", "9999_not_applied")})
    warnings = check_databases_migrated()
    assert {w.obj for w in warnings} == set(ALL_DATABASES) and {w.id for w in warnings} == {"core.W020"}
    assert "manage.py migrate" in warnings[0].hint
    with migration_state.migrating():
        assert check_databases_migrated() == []
