"""Which database aliases lack migrations: for the core.W020 check, /health/ and the JSON 503 answers."""

import copy
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend


@lru_cache(maxsize=1)
def expected_migrations() -> frozenset[tuple[str, str]]:
    """Every migration on disk (read once: the files do not change while a process runs).

    `migrate --database X` records every app's migrations in X's django_migrations, also those
    whose operations the router sends elsewhere, so every alias must have all of them.
    """
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def unapplied_migrations(connection) -> set[tuple[str, str]]:
    """The migrations not recorded as applied on this connection (all of them when it has no table)."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return set(expected_migrations())
    return set(expected_migrations()) - set(recorder.applied_migrations())


def _bounded_settings(alias: str, timeout: float) -> dict:
    """The alias's connection settings with short connect/read/write timeouts, for a throw-away connection."""
    settings_dict = copy.deepcopy(connections[alias].settings_dict)
    options = settings_dict.setdefault("OPTIONS", {})
    if settings_dict["ENGINE"].endswith("mysql"):
        seconds = max(1, round(timeout))  # mysqlclient takes whole seconds
        options.update(connect_timeout=seconds, read_timeout=seconds, write_timeout=seconds)
    elif settings_dict["ENGINE"].endswith("sqlite3"):
        options["timeout"] = timeout
    settings_dict["CONN_MAX_AGE"] = 0
    return settings_dict


@contextmanager
def bounded_connection(alias: str, timeout: float | None = None):
    """A new connection to the alias's database that gives up after `timeout` seconds (CC_HEALTH_PROBE_TIMEOUT)."""
    settings_dict = _bounded_settings(alias, float(timeout or settings.CC_HEALTH_PROBE_TIMEOUT))
    connection = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        yield connection
    finally:
        connection.close()


def _is_missing_sqlite_file(settings_dict: dict) -> bool:
    name = str(settings_dict.get("NAME") or "")
    in_memory = name == ":memory:" or name.startswith("file:")
    return settings_dict["ENGINE"].endswith("sqlite3") and not in_memory and not Path(name).exists()


def unmigrated_aliases() -> dict[str, int]:
    """Alias -> count of unapplied migrations, for the aliases that can be reached and lack some."""
    found = {}
    for alias in connections:
        if _is_missing_sqlite_file(connections[alias].settings_dict):  # never create it just to look
            found[alias] = len(expected_migrations())
            continue
        try:
            with bounded_connection(alias) as connection:
                missing = unapplied_migrations(connection)
        except Exception:  # unreachable (or no database access here): /health/ reports that, not this
            continue
        if missing:
            found[alias] = len(missing)
    return found


def fix_command(alias: str) -> str:
    return f"manage.py migrate` (every alias) or `manage.py migrate --database {alias}"


_migrating = False


@contextmanager
def migrating():
    """While `migrate` runs, its own system checks need not report what it is about to apply."""
    global _migrating
    _migrating, previous = True, _migrating
    try:
        yield
    finally:
        _migrating = previous


def is_migrating() -> bool:
    return _migrating
