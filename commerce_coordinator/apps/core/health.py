"""The probes behind GET /health/, each bounded so that a hung dependency answers "down" fast.

Every probe has its own socket or statement timeout (CC_HEALTH_PROBE_TIMEOUT) and all of them run
in parallel under one deadline (CC_HEALTH_DEADLINE): a SIGSTOPped Redis or a database that accepts
connections but never answers cannot keep a web worker longer than that (docs/decisions/0020).
"""

from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.db import connections

from .migration_state import bounded_connection, unapplied_migrations

# Threads are reused between checks; a probe stuck past its own timeout only ever holds one of them.
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cc-health")


class ProbeFailed(Exception):
    """A dependency answered, but not as it should (kept apart from connection errors)."""


def _probe_timeout() -> float:
    return float(settings.CC_HEALTH_PROBE_TIMEOUT)


def probe_database(alias: str) -> None:
    """SELECT 1 on a fresh connection with short timeouts, then: are all migrations applied?"""
    with bounded_connection(alias) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        missing = unapplied_migrations(connection)
    if missing:
        raise ProbeFailed(f"not migrated: {len(missing)} migration(s) not applied; run `manage.py migrate`")


def probe_cache() -> None:
    cache.set("cc-health", "1", 5)  # the cache's own socket timeouts bound this (settings OPTIONS)
    if cache.get("cc-health") != "1":
        raise ProbeFailed("cache did not return what was set")


def probe_broker() -> None:
    from commerce_coordinator.celery import app

    timeout = _probe_timeout()
    bounded = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0}
    with app.connection_for_write(connect_timeout=timeout, transport_options=bounded) as conn:
        conn.ensure_connection(max_retries=0, timeout=timeout)  # one attempt: a refusal is "down" at once


def _probes() -> dict:
    """Part name -> callable; one part per database alias."""
    probes = {f"database:{alias}": (lambda a=alias: probe_database(a)) for alias in connections}
    probes["cache"] = probe_cache
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        probes["broker"] = probe_broker
    return probes


def _outcome(future) -> dict:
    try:
        future.result(timeout=0)
        return {"status": "ok"}
    except FutureTimeout:
        return {"status": "down", "error": "no answer within the health deadline"}
    except Exception as exc:
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}


def run_probes() -> dict:
    """Every probe in parallel, each result or "down" once CC_HEALTH_DEADLINE has passed."""
    futures = {name: _executor.submit(probe) for name, probe in _probes().items()}
    wait(futures.values(), timeout=float(settings.CC_HEALTH_DEADLINE))
    results = {name: _outcome(future) for name, future in futures.items()}
    databases = {name.split(":", 1)[1]: part for name, part in results.items() if name.startswith("database:")}
    body = {
        "database": {
            "status": "ok" if all(p["status"] == "ok" for p in databases.values()) else "down",
            "aliases": databases,
        },
        "cache": results["cache"],
        "broker": results.get("broker", {"status": "ok", "mode": "in-process (no broker configured)"}),
    }
    body["status"] = "ok" if all(part["status"] == "ok" for part in body.values()) else "down"
    return body


def statuses_only(body: dict) -> dict:
    """What an anonymous caller sees: each part's status, no hosts, ports or error texts."""
    return {name: part if isinstance(part, str) else {"status": part["status"]} for name, part in body.items()}
