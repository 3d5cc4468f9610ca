"""Run the service as a newcomer does: `manage.py` commands and the development server in subprocesses,
on the local settings, in a fresh CC_VAR_DIR (SQLite files, the embedded broker), with nothing provisioned.

The server is started in its own session and stopped by signalling that session's process group (the
runserver reloader and its server process); the server stops the worker it started (ADR 22).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python") if (BASE_DIR / ".venv").exists() else sys.executable
LOCAL_STRIPE_SECRET = "whsec_local_dev_secret"  # settings.local's, documented in the README
# What the test run's environment may carry that a newcomer's shell does not.
NOT_A_NEWCOMERS = (
    "DJANGO_SETTINGS_MODULE",
    "DB_ENGINE",
    "DB_NAME",
    "TRACES_DB_NAME",
    "CELERY_BROKER_URL",
    "CC_WORKER_BROKER_URL",
    "CELERY_DEFAULT_QUEUE",
    "LMS_URL_ROOT",
    "LMS_OAUTH_URL",
    "LMS_OAUTH_CLIENT_ID",
    "LMS_OAUTH_CLIENT_SECRET",
    "LMS_RETRY_SCHEDULE",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRETS",
    "CC_DEV_SERVER_URL",
)


def newcomer_environment(var_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env.update(CC_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def signed_stripe_event(event_id: str, order: str, user: str, keys: str, secret: str = LOCAL_STRIPE_SECRET):
    """The README's payload shape, signed as Stripe signs: (body, headers)."""
    intent = {"id": f"pi_{event_id}", "object": "payment_intent", "amount_received": 4900, "currency": "usd"}
    intent["metadata"] = {"order_number": order, "lms_user_id": user, "course_run_keys": keys}
    body = json.dumps({"id": event_id, "type": "payment_intent.succeeded", "data": {"object": intent}}).encode()
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={mac}"}


class DevServer:
    """`manage.py` and `runserver` as subprocesses in one fresh var directory."""

    def __init__(self, var_dir: Path, **env: str):
        self.env = newcomer_environment(var_dir, **env)
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []
        self.url = ""

    def manage(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def create_staff(self, username: str = "staff", password: str = "staff-pw") -> None:
        env = {**self.env, "DJANGO_SUPERUSER_PASSWORD": password}
        subprocess.run(
            [
                PYTHON,
                "manage.py",
                "createsuperuser",
                "--noinput",
                "--username",
                username,
                "--email",
                "s@example.invalid",
            ],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
        )
        self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def start(self, command: list[str], ready: str = " ready.", timeout: float = 90) -> DevServer:
        """Start e.g. [PYTHON, "manage.py", "runserver", "127.0.0.1:0"]; wait for its address and `ready`."""
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        address = self.wait_for(r"Starting development server at (http://[^/\s]+)/", timeout)
        self.url = address.group(1).replace("0.0.0.0", "127.0.0.1")
        if ready:
            self.wait_for(re.escape(ready), timeout)
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output)

    def wait_for(self, pattern: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.log()[-6000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in {timeout}s:\n{self.log()[-6000:]}")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, staff=False):
        """(status, parsed JSON or text) of one request to the live server."""
        headers = dict(headers or {})
        if staff:
            headers["Authorization"] = self.auth
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_for_order(self, order_number: str, status: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        body = None
        while time.monotonic() < deadline:
            code, body = self.request("GET", f"/api/v1/orders/{order_number}/", staff=True)
            if code == 200 and body["status"] == status:
                return body
            time.sleep(0.25)
        raise AssertionError(f"order {order_number} not {status} in {timeout}s: {body}\n{self.log()[-6000:]}")

    def stop(self, timeout: float = 30) -> None:
        """Terminate the server's process group (what a terminal's Ctrl-C reaches); kill it if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"Started worker \(pid (\d+)\)", self.log())]
