"""`manage.py celery`: a development Celery worker that restarts when Python files change.

The command runs `celery -A commerce_coordinator worker -l INFO` (plus any
arguments given after `--`) as its own child process, watches the project's
`.py` files with watchdog, and on a change (debounced) terminates that child and
starts a new one. It only ever signals the child it started (and that child's own
process group); it never looks processes up by name. Ctrl-C stops the child
cleanly (warm shutdown, then a kill after --stop-timeout seconds).

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 ./manage.py celery -- -Q commerce_coordinator -c 2
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

CELERY_WORKER_COMMAND = [sys.executable, "-m", "celery", "-A", "commerce_coordinator", "worker", "-l", "INFO"]

# Linux: the child asks the kernel for SIGTERM when its parent dies, so a reloader
# killed outright (SIGKILL, a crash) leaves no orphaned worker behind.
_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover - no libc to load
    _LIBC = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _PythonChangeHandler(FileSystemEventHandler):
    """Reports changes to .py files (outside __pycache__) to a callback."""

    def __init__(self, on_change: Callable[[str], None]):
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if path.endswith(".py") and "__pycache__" not in Path(path).parts:
                self.on_change(path)
                return


class Reloader:
    """Runs one child process and restarts it when a watched .py file changes.

    `run()` blocks until `stop_event` is set (or KeyboardInterrupt), then stops
    the child. `restarts` counts restarts caused by changes.
    """

    def __init__(
        self,
        command: Sequence[str],
        watch_paths: Sequence[str | Path],
        *,
        debounce: float = 1.0,
        stop_timeout: float = 10.0,
        log: Callable[[str], None] = print,
        cwd: str | Path | None = None,
    ):
        self.command = list(command)
        self.watch_paths = [Path(p) for p in watch_paths]
        self.debounce = debounce
        self.stop_timeout = stop_timeout
        self.log = log
        self.cwd = cwd
        self.child: subprocess.Popen | None = None
        self.restarts = 0
        self._lock = threading.Lock()
        self._changed: list[str] = []
        self._last_change = 0.0
        self._wake = threading.Event()

    # -- change notifications (watchdog thread) ---------------------------------
    def notify_change(self, path: str) -> None:
        with self._lock:
            self._changed.append(path)
            self._last_change = time.monotonic()
        self._wake.set()

    def _take_changes_if_quiet(self) -> list[str]:
        """The changed paths, once no change has arrived for `debounce` seconds."""
        with self._lock:
            if not self._changed or time.monotonic() - self._last_change < self.debounce:
                return []
            changed, self._changed = self._changed, []
            return changed

    # -- the child ------------------------------------------------------------------
    def start_child(self) -> subprocess.Popen:
        # Its own session: a terminal's Ctrl-C reaches only this process, which
        # then stops the child in order, and the child's pool can be killed as a group.
        self.child = subprocess.Popen(self.command, cwd=self.cwd, start_new_session=True, preexec_fn=_die_with_parent)
        self._log(f"Started worker (pid {self.child.pid}): {' '.join(self.command)}")
        return self.child

    def _log(self, message: str) -> None:
        """Log, but never let a broken output (e.g. a closed pipe) stop the child's management."""
        try:
            self.log(message)
        except (OSError, ValueError):
            pass

    def stop_child(self) -> None:
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        self._log(f"Stopping worker (pid {child.pid})")
        child.terminate()  # SIGTERM: Celery's warm shutdown
        try:
            child.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self._log(f"Worker (pid {child.pid}) did not stop in {self.stop_timeout:g}s; killing its process group")
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - exited in between
                pass
            child.wait()

    def restart_child(self, changed: Sequence[str]) -> None:
        shown = ", ".join(sorted(set(changed))[:3]) + (" ..." if len(set(changed)) > 3 else "")
        self._log(f"Change detected in {shown}; restarting worker")
        self.stop_child()
        self.start_child()
        self.restarts += 1

    # -- main loop --------------------------------------------------------------------
    def run(self, stop_event: threading.Event | None = None) -> None:
        stop_event = stop_event or threading.Event()
        observer = Observer()
        handler = _PythonChangeHandler(self.notify_change)
        for path in self.watch_paths:
            observer.schedule(handler, str(path), recursive=True)
        observer.start()
        self._log(f"Watching {', '.join(str(p) for p in self.watch_paths)} for .py changes")
        reported_exit = False
        try:
            self.start_child()
            while not stop_event.is_set():
                self._wake.wait(min(self.debounce, 0.5) or 0.1)
                self._wake.clear()
                changed = self._take_changes_if_quiet()
                if changed:
                    self.restart_child(changed)
                    reported_exit = False
                elif self.child is not None and self.child.poll() is not None and not reported_exit:
                    self._log(f"Worker exited with code {self.child.returncode}; waiting for a change to restart it")
                    reported_exit = True
        finally:
            observer.stop()
            self.stop_child()
            observer.join(5)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = "Run a development Celery worker that restarts when Python files change. Pass worker options after --."

    # Swapped by tests for a harmless command; the real one is the Celery worker.
    child_command: Sequence[str] = CELERY_WORKER_COMMAND
    reloader_class = Reloader

    def add_arguments(self, parser):
        parser.add_argument(
            "--watch",
            action="append",
            default=None,
            help="Directory to watch for .py changes (repeatable; default: the commerce_coordinator package).",
        )
        parser.add_argument("--debounce", type=float, default=1.0, help="Seconds of quiet before restarting.")
        parser.add_argument("--stop-timeout", type=float, default=10.0, help="Seconds to wait for a warm shutdown.")
        parser.add_argument("worker_args", nargs=argparse.REMAINDER, help="Arguments passed to `celery worker`.")

    def handle(self, *args, **options):
        worker_args = list(options["worker_args"] or [])
        if worker_args[:1] == ["--"]:
            worker_args = worker_args[1:]
        base_dir = Path(settings.BASE_DIR)
        watch = options["watch"] or [str(base_dir / "commerce_coordinator")]

        def log(message: str) -> None:
            try:
                self.stdout.write(f"[celery-reloader] {message}")
            except (OSError, ValueError):  # output closed (e.g. a pipe's reader died): keep going
                pass

        reloader = self.reloader_class(
            [*self.child_command, *worker_args],
            watch,
            debounce=options["debounce"],
            stop_timeout=options["stop_timeout"],
            log=log,
            cwd=base_dir,
        )
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {signum: signal.signal(signum, _raise_keyboard_interrupt) for signum in _STOP_SIGNALS}
        try:
            reloader.run()
        except KeyboardInterrupt:
            log("Interrupted; worker stopped")
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
