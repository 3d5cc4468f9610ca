"""Test helpers shared by every app's tests: the databases to ask for, and a real Celery worker process.

With CI=true a missing MariaDB or Redis fails the test; on a developer's machine it skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections

ALL_DATABASES = ["default", "traces"]


def require_service(name: str, probe) -> None:
    """Fail (in CI) or skip (elsewhere) when a service the test needs does not answer."""
    try:
        probe()
    except Exception as exc:
        message = f"{name} is not reachable: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI=true: tests that need it must run)")
        pytest.skip(message)


def redis_url() -> str:
    return settings.CC_TEST_REDIS_URL


def require_redis() -> str:
    import redis

    url = redis_url()
    require_service("Redis", lambda: redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    return url


def _use_broker(broker_url: str, queue: str, eager: bool) -> None:
    """Point this process's Celery app at a broker (for tests that talk to a real worker)."""
    from kombu import pools

    from commerce_coordinator.celery import app

    pools.reset()  # kombu keeps connection pools per broker URL, process-wide
    app._pool = None
    app.amqp.__dict__.pop("_producer_pool", None)
    app.conf.update(broker_url=broker_url, task_always_eager=eager, task_default_queue=queue)


def child_process_environment(**extra: str) -> dict:
    """The environment of a process a test starts (a worker, a consumer): test settings, this run's databases."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="commerce_coordinator.settings.test",
        DB_NAME=str(connections["default"].settings_dict["NAME"]),
        TRACES_DB_NAME=str(connections["traces"].settings_dict["NAME"]),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class CeleryWorker:
    """A real `celery worker` subprocess on the Redis broker, using this test run's databases."""

    def __init__(self, broker_url: str, queue: str, pool: str = "solo", extra_args=(), queue_settings=()):
        self.broker_url, self.queue, self.pool, self.extra_args = broker_url, queue, pool, list(extra_args)
        self.queue_settings = tuple(queue_settings)
        self.output: list[str] = []
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict:
        same = {name: self.queue for name in self.queue_settings}
        return child_process_environment(CC_WORKER_BROKER_URL=self.broker_url, CELERY_DEFAULT_QUEUE=self.queue, **same)

    def start(self, timeout: float = 60) -> CeleryWorker:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "commerce_coordinator",
            "worker",
            "-l",
            "INFO",
            f"--pool={self.pool}",
            "--concurrency=1",
            "-Q",
            self.queue,
            "-n",
            f"{self.queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            cmd,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=settings.BASE_DIR,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("ready.", timeout)
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output)

    def pool_child_pid(self) -> int | None:
        """The pid of the prefork pool's (first) child process, once it is up."""
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"Celery worker exited ({self.process.returncode}):\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"Celery worker did not print {text!r} in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def celery_worker(pool: str = "solo", extra_args=(), queue_settings=()):
    """Start a worker on a fresh Redis queue; this process sends to it until the block ends. `queue_settings`:
    names of queue settings (e.g. PAYMENTS_CELERY_QUEUE) that the worker reads as that same queue."""
    broker_url = require_redis()
    queue = f"cc-test-{uuid.uuid4().hex[:12]}"
    worker = CeleryWorker(broker_url, queue, pool, extra_args, queue_settings)
    _use_broker(broker_url, queue, eager=False)
    try:
        yield worker.start()
    finally:
        worker.stop()
        _use_broker("memory://", settings.CELERY_TASK_DEFAULT_QUEUE, eager=True)


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """Poll until predicate() is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout}s waiting for {message}")
