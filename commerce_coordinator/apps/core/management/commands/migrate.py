"""`manage.py migrate` that migrates every database alias when --database is not given.

Django's own migrate only touches "default", so a plain `manage.py migrate` left the traces
database empty; `--database X` still migrates X alone.
"""

from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from commerce_coordinator.apps.core import migration_state


class Command(DjangoMigrateCommand):
    help = "Updates the schema of every database alias (or only --database)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=None)  # None: every alias in settings.DATABASES

    def get_check_kwargs(self, options):
        kwargs = super().get_check_kwargs(options)
        return {**kwargs, "databases": [options["database"]] if options["database"] else list(connections)}

    def execute(self, *args, **options):
        with migration_state.migrating():  # core.W020 would only say what this command is about to fix
            return super().execute(*args, **options)

    def handle(self, *args, **options):
        if options["database"]:
            return super().handle(*args, **options)
        for alias in connections:
            if options["verbosity"] >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Database alias {alias!r}:"))
            super().handle(*args, **{**options, "database": alias})
