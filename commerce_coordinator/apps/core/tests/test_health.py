"""GET /health/ answers fast when a dependency hangs, says when a database is not migrated, and shows
error details to staff only (issue 9, items 3 and 11; issue 8, the unmigrated database).

The hung broker and cache are this test's OWN redis-server on a private port, SIGSTOPped.
"""

import shutil
import signal
import socket
import subprocess
import time

import pytest
from django.db import connections
from django.test import Client, override_settings

from commerce_coordinator.apps.core import health, migration_state, testing
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

FAST = 3.0  # seconds: CC_HEALTH_DEADLINE (2 s) plus the test client's own overhead


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hung_redis(tmp_path):
    """A private redis-server that accepts connections and then never answers (SIGSTOP)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    testing.wait_until(lambda: _pings(redis, port), timeout=10, message="private redis-server up")
    proc.send_signal(signal.SIGSTOP)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def _pings(redis, port) -> bool:
    try:
        return redis.Redis(port=port, socket_timeout=0.5).ping()
    except redis.RedisError:
        return False


@pytest.fixture
def broker(settings):
    """Point the Celery app at a broker URL for one test, and back to memory:// after it."""
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def use(url):
        testing._use_broker(url, "unused", eager=False)

    yield use
    testing._use_broker("memory://", settings.CELERY_TASK_DEFAULT_QUEUE, eager=True)


def timed_get(client, path="/health/", **extra):
    start = time.monotonic()
    response = client.get(path, **extra)
    return response, time.monotonic() - start


def test_a_hung_broker_answers_503_fast(client, hung_redis, broker):
    broker(hung_redis + "/0")
    response, took = timed_get(client)
    assert response.status_code == 503
    assert response.json()["broker"] == {"status": "down"}
    assert took < FAST, f"/health/ took {took:.1f} s with a hung broker"


def test_a_hung_cache_answers_503_fast_even_without_socket_timeouts(client, hung_redis):
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": hung_redis + "/0"}}
    with override_settings(CACHES=caches):
        response, took = timed_get(client)
    assert response.status_code == 503
    assert response.json()["cache"] == {"status": "down"}
    assert took < FAST, f"/health/ took {took:.1f} s with a hung cache"


def test_two_concurrent_health_checks_with_a_hung_broker_both_end_fast(live_server, hung_redis, broker):
    import concurrent.futures
    import urllib.error
    import urllib.request

    broker(hung_redis + "/0")

    def get():
        start = time.monotonic()
        try:
            urllib.request.urlopen(live_server.url + "/health/", timeout=30)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        return status, time.monotonic() - start

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: get(), range(2)))
    assert [status for status, _ in results] == [503, 503]
    assert max(took for _, took in results) < FAST


def test_anonymous_callers_see_statuses_only_and_staff_the_details(staff_client, broker):
    broker("redis://127.0.0.1:1/0")  # nothing listens there: refused at once
    anonymous = Client().get("/health/")
    assert anonymous.status_code == 503
    assert anonymous.json() == {
        "database": {"status": "ok"},
        "cache": {"status": "ok"},
        "broker": {"status": "down"},
        "status": "down",
    }
    assert b"127.0.0.1" not in anonymous.content and b"Error" not in anonymous.content
    staff = staff_client.get("/health/")
    assert staff.status_code == 503
    assert "Error" in staff.json()["broker"]["error"]
    assert set(staff.json()["database"]["aliases"]) == set(connections)


def test_bad_basic_credentials_on_health_are_anonymous_not_401(client, broker):
    broker("redis://127.0.0.1:1/0")
    response = client.get("/health/", HTTP_AUTHORIZATION="Basic bm9ib2R5Om5vcGU=")
    assert response.status_code == 503 and "error" not in response.json()["broker"]


def test_an_unmigrated_database_is_down(staff_client, monkeypatch):
    on_disk = migration_state.expected_migrations()
    monkeypatch.setattr(migration_state, "expected_migrations", lambda: on_disk | {("core", "9999_not_applied")})
    assert Client().get("/health/").json()["database"] == {"status": "down"}
    response = staff_client.get("/health/")
    assert response.status_code == 503
    traces = response.json()["database"]["aliases"]["traces"]
    assert traces["status"] == "down" and "not migrated" in traces["error"] and "manage.py migrate" in traces["error"]


@pytest.mark.mysql_only
def test_a_database_that_never_answers_is_down_within_the_deadline(staff_client, monkeypatch):
    """A server that accepts TCP connections and never speaks (the handshake hangs): the connect timeout ends it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # never accept(): connections wait in the backlog, unanswered
    real = migration_state._bounded_settings

    def silent_host(alias, timeout):
        return {**real(alias, timeout), "HOST": "127.0.0.1", "PORT": str(listener.getsockname()[1])}

    monkeypatch.setattr(migration_state, "_bounded_settings", silent_host)
    try:
        response, took = timed_get(staff_client)
    finally:
        listener.close()
    assert response.status_code == 503
    assert response.json()["database"]["aliases"]["default"]["status"] == "down"
    assert took < FAST


def test_probes_are_bounded_by_the_deadline_even_if_one_ignores_its_timeout(client, monkeypatch, settings):
    settings.CC_HEALTH_DEADLINE = 0.5
    monkeypatch.setattr(health, "probe_cache", lambda: time.sleep(3))
    response, took = timed_get(client)
    assert response.status_code == 503 and response.json()["cache"] == {"status": "down"}
    assert took < 2
