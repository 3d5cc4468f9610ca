"""`manage.py provision_local`: idempotent local set-up (run by local-provision-commerce-coordinator.sh).

In order, each step doing only what is missing and saying what it did:

1. MySQL/MariaDB databases of every alias whose ENGINE is mysql
   (CREATE DATABASE IF NOT EXISTS ... utf8mb4);
2. migrations of every database alias (default and traces);
3. the admin user (admin / admin, staff and superuser), only if no user of that name exists;
4. the waffle switches named in settings.CC_WAFFLE_SWITCHES, only those missing
   (an existing switch keeps the state an operator gave it);
5. demo data: each management command named in settings.CC_DEMO_DATA_COMMANDS
   (plugin apps add theirs there; each must be idempotent, print what it did,
   and return a non-empty summary string only when it changed something).

The core imports no plugin app: step 5 runs commands by name from settings.
A local tool only: it refuses to run with DEBUG off unless --allow-non-debug is given.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from commerce_coordinator.apps.core.switches import ensure_declared_switches

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
ADMIN_EMAIL = "admin@example.com"
_SAFE_DB_NAME = re.compile(r"^[A-Za-z0-9_$-]+$")


def ensure_mysql_database(db_settings: dict) -> bool:
    """Create the MySQL/MariaDB database named in db_settings if it is missing; True if it was created."""
    import MySQLdb  # mysqlclient; imported here so that SQLite-only use never needs it

    name = db_settings["NAME"]
    if not _SAFE_DB_NAME.match(name):
        raise CommandError(f"Refusing to create a database with the unusual name {name!r}.")
    connection = MySQLdb.connect(
        host=db_settings.get("HOST") or "127.0.0.1",
        port=int(db_settings.get("PORT") or 3306),
        user=db_settings.get("USER") or "root",
        password=db_settings.get("PASSWORD") or "",
        charset="utf8mb4",
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [name])
        if cursor.fetchone():
            return False
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return True
    finally:
        connection.close()


class Command(BaseCommand):
    help = "Idempotent local set-up: databases, migrations, admin user, waffle switches, demo data."
    # The databases may not exist yet when the command starts; checks run later in the web process.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--no-demo-data", action="store_true", help="Skip the demo data commands.")
        parser.add_argument(
            "--allow-non-debug",
            action="store_true",
            help="Run even though DEBUG is off (it creates an admin/admin user: never in production).",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_non_debug"]:
            raise CommandError(
                "provision_local creates an admin/admin user and is for local development only; "
                "DEBUG is off. Use the local settings, or pass --allow-non-debug if you really mean it."
            )
        self.changes = 0
        self._databases()
        self._migrations()
        self._admin_user()
        self._switches()
        if not options["no_demo_data"]:
            self._demo_data()
        if self.changes:
            self.stdout.write(self.style.SUCCESS(f"Provisioning done: {self.changes} change(s)."))
        else:
            self.stdout.write(self.style.SUCCESS("Provisioning done: nothing to change, everything already present."))

    def _report(self, subject: str, changed: bool, created: str = "created", present: str = "already present"):
        if changed:
            self.changes += 1
        self.stdout.write(f"{subject}: {created if changed else present}")

    def _databases(self):
        for alias, db in settings.DATABASES.items():
            if connections[alias].vendor == "mysql":
                self._report(f"database {db['NAME']} ({alias})", ensure_mysql_database(db))

    def _migrations(self):
        for alias in settings.DATABASES:
            executor = MigrationExecutor(connections[alias])
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                call_command("migrate", database=alias, interactive=False, verbosity=0)
            self._report(
                f"migrations ({alias})",
                bool(pending),
                created=f"applied {len(pending)}",
                present="already up to date",
            )

    def _admin_user(self):
        user_model = get_user_model()
        exists = user_model.objects.filter(**{user_model.USERNAME_FIELD: ADMIN_USERNAME}).exists()
        if not exists:
            user_model.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, ADMIN_PASSWORD)
        self._report(
            f"{ADMIN_USERNAME} user",
            not exists,
            created=f"created ({ADMIN_USERNAME} / {ADMIN_PASSWORD}, staff, superuser)",
        )

    def _switches(self):
        for name, created, active in ensure_declared_switches():
            state = "on" if active else "off"
            self._report(f"switch {name}", created, created=f"created ({state})", present=f"already present ({state})")

    def _demo_data(self):
        for command in getattr(settings, "CC_DEMO_DATA_COMMANDS", []):
            self.stdout.write(f"demo data: {command}")
            # Contract: the command prints what it did and returns a non-empty summary only if it changed something.
            if call_command(command, stdout=self.stdout, stderr=self.stderr):
                self.changes += 1
