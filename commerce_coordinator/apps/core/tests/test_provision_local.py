"""`manage.py provision_local`: idempotent, and says what it did."""

import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from waffle.models import Switch

from commerce_coordinator.apps.core.management.commands import provision_local

pytestmark = pytest.mark.django_db(databases=["default", "traces"])


def provision(*args) -> str:
    out = StringIO()
    call_command("provision_local", "--allow-non-debug", *args, stdout=out)
    return out.getvalue()


def test_first_run_creates_and_second_run_changes_nothing_and_says_so():
    first = provision()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password("admin")
    for name, spec in settings.CC_WAFFLE_SWITCHES.items():
        assert Switch.objects.get(name=name).active == spec["active"]
        assert f"switch {name}: created" in first
    assert "admin user: created (admin / admin" in first
    assert "migrations (default): already up to date" in first
    assert "migrations (traces): already up to date" in first
    assert "Provisioning done:" in first and "change(s)" in first

    users, switches = get_user_model().objects.count(), Switch.objects.count()
    second = provision()
    assert "admin user: already present" in second
    for name in settings.CC_WAFFLE_SWITCHES:
        assert f"switch {name}: already present" in second
    assert "nothing to change" in second
    assert (get_user_model().objects.count(), Switch.objects.count()) == (users, switches)


def test_an_existing_switch_keeps_the_state_an_operator_gave_it(settings):
    settings.CC_WAFFLE_SWITCHES = {"demo.flag": {"active": True, "note": "x"}}
    Switch.objects.create(name="demo.flag", active=False)
    out = provision("--no-demo-data")
    assert "switch demo.flag: already present (off)" in out
    assert Switch.objects.get(name="demo.flag").active is False
    assert "demo data" not in out


def test_an_existing_admin_is_left_alone():
    get_user_model().objects.create_user("admin", password="secret")
    out = provision()
    assert "admin user: already present" in out
    assert get_user_model().objects.get(username="admin").check_password("secret")


def test_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="local development only"):
        call_command("provision_local", stdout=StringIO())


def test_runs_the_demo_data_commands_and_pending_migrations(monkeypatch, settings):
    settings.CC_DEMO_DATA_COMMANDS = ["provision_demo_data", "other_demo_data"]
    calls = []

    def fake_call_command(name, *args, **kwargs):
        calls.append((name, kwargs.get("database")))
        return "loaded 2 demo orders" if name == "other_demo_data" else ""

    monkeypatch.setattr(provision_local, "call_command", fake_call_command)
    monkeypatch.setattr(provision_local.MigrationExecutor, "migration_plan", lambda self, targets: [("m", False)])
    out = provision()
    assert ("migrate", "default") in calls and ("migrate", "traces") in calls
    assert "migrations (default): applied 1" in out
    assert [c[0] for c in calls if c[0] != "migrate"] == ["provision_demo_data", "other_demo_data"]
    assert "demo data: other_demo_data" in out


def test_the_demo_lms_demo_data_command_is_idempotent_and_changes_nothing():
    out = StringIO()
    assert call_command("provision_demo_data", stdout=out) == ""
    assert "nothing to change" in out.getvalue()


def test_refuses_an_unusual_database_name():
    with pytest.raises(CommandError, match="unusual name"):
        provision_local.ensure_mysql_database({"NAME": "x`; DROP DATABASE y"})


@pytest.mark.mysql_only
def test_creates_a_missing_mysql_database_once():
    db = dict(settings.DATABASES["default"])
    db["NAME"] = f"cc_provision_{uuid.uuid4().hex[:10]}"
    import MySQLdb

    try:
        assert provision_local.ensure_mysql_database(db) is True
        assert provision_local.ensure_mysql_database(db) is False
    finally:
        connection = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], password=db["PASSWORD"])
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{db['NAME']}`")
        connection.close()


@pytest.mark.mysql_only
def test_reports_the_mysql_databases_as_present():
    out = provision("--no-demo-data")
    for db in settings.DATABASES.values():
        assert f"database {db['NAME']}" in out
    assert "already present" in out
