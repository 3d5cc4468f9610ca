"""`manage.py runserver`: Django's development server (with static files), plus the embedded worker.

With the embedded broker (settings.local without CELERY_BROKER_URL: CC_DEV_SERVER_WORKER), the server
process starts a Celery worker with beat beside itself once it has bound its port, and stops it when it
exits or reloads (docs/decisions/0022). It also tells the demo LMS address to itself and to the worker:
CC_DEV_SERVER_URL is the address it actually listens on, whatever the port.
"""

from __future__ import annotations

import atexit
import os
import sys

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver

from .celery import CELERY_WORKER_COMMAND, Reloader


def embedded_worker_command(port, reload: bool) -> list[str]:
    """A worker with beat on the embedded broker (its beat schedule file beside the queue); with the
    autoreloader on, run by `manage.py celery`, which restarts it when any .py file changes."""
    schedule = os.path.join(settings.CC_EMBEDDED_BROKER_DIR, "beat-schedule")
    worker_args = [
        *["--beat", "--schedule", schedule, "--concurrency", "2", "-n", f"embedded-{port}@%h"],
        *["--without-gossip", "--without-mingle", "--without-heartbeat"],
    ]
    if reload:
        return [sys.executable, str(settings.BASE_DIR / "manage.py"), "celery", "--", *worker_args]
    return [*CELERY_WORKER_COMMAND, *worker_args]


def server_url(addr: str, port, ipv6: bool) -> str:
    """The URL a local client reaches this server at (a wildcard address means this machine)."""
    if addr in ("", "0", "0.0.0.0", "::"):
        addr = "::1" if ipv6 else "127.0.0.1"
    return f"http://[{addr}]:{port}" if ":" in addr else f"http://{addr}:{port}"


class Command(StaticfilesRunserver):
    help = "Start the development server; with the embedded broker, also a Celery worker (and beat) beside it."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--no-worker",
            action="store_false",
            dest="start_worker",
            help="Do not start the embedded Celery worker (tasks then wait in var/celery/ for one).",
        )

    def inner_run(self, *args, **options):
        self.start_worker = options.get("start_worker", True)
        self.reload_worker = options.get("use_reloader", True)
        return super().inner_run(*args, **options)

    def on_bind(self, server_port):
        super().on_bind(server_port)
        self.announce_address(server_url(self.addr, server_port, self.use_ipv6))
        if self.start_worker and getattr(settings, "CC_DEV_SERVER_WORKER", False):
            self.start_embedded_worker(server_port)

    def announce_address(self, url: str) -> None:
        """This server's address, for the demo LMS client here and in the worker it starts."""
        os.environ["CC_DEV_SERVER_URL"] = url
        try:  # and for a shell beside it (settings.local reads it: e.g. the demo payment gateway's address)
            (settings.VAR_DIR / "dev_server_url").write_text(url + "\n")
        except OSError:
            pass
        if getattr(settings, "CC_DEMO_LMS_ON_DEV_SERVER", False):
            settings.LMS_URL_ROOT = f"{url}/demo_lms"

    def start_embedded_worker(self, port) -> None:
        env_settings = os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)
        self.stdout.write(f"Starting the embedded Celery worker ({env_settings}, broker {settings.CELERY_BROKER_URL})")
        command = embedded_worker_command(port, self.reload_worker)
        worker = Reloader(command, [], stop_timeout=15, log=self.stdout.write, cwd=settings.BASE_DIR)
        worker.start_child()  # its own session; SIGTERM if this process dies (PR_SET_PDEATHSIG)
        atexit.register(worker.stop_child)  # a reload or Ctrl-C: warm shutdown, waiting retries restored
