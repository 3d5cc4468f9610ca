"""`manage.py celery`: the reloader restarts its own child on a .py change, and only then."""

import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from commerce_coordinator.apps.core.management.commands import celery as celery_command
from commerce_coordinator.apps.core.management.commands.celery import Reloader

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def start(reloader):
    """Run the reloader in a background thread until its child is up; returns (stop event, thread, child)."""
    stop = threading.Event()
    thread = threading.Thread(target=reloader.run, args=(stop,), daemon=True)
    thread.start()
    assert wait_for(lambda: reloader.child is not None), "the child never started"
    return stop, thread, reloader.child


@pytest.fixture
def running_reloader(tmp_path):
    """A Reloader over tmp_path running a harmless child in a background thread."""
    messages: list[str] = []
    reloader = Reloader(SLEEPER, [tmp_path], debounce=0.3, stop_timeout=5, log=messages.append)
    stop, thread, _ = start(reloader)
    yield reloader, messages
    stop.set()
    thread.join(15)
    assert not thread.is_alive()


def test_a_py_change_restarts_the_child(running_reloader, tmp_path):
    reloader, messages = running_reloader
    first = reloader.child
    # Several changes in quick succession are one restart (debounced).
    for name in ("a.py", "b.py", "a.py"):
        (tmp_path / name).write_text("x = 1\n")
    assert wait_for(lambda: reloader.child is not None and reloader.child.pid != first.pid), messages
    assert first.poll() is not None, "the old child is still running"
    second = reloader.child
    assert second.poll() is None
    time.sleep(0.8)
    assert reloader.restarts == 1
    assert any("restarting worker" in m for m in messages)


def test_other_files_do_not_restart_the_child(running_reloader, tmp_path):
    reloader, _ = running_reloader
    first = reloader.child
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "mod.py").write_text("x = 1\n")
    time.sleep(1.0)
    assert reloader.child is first
    assert reloader.restarts == 0


def test_stop_terminates_the_child(tmp_path):
    reloader = Reloader(SLEEPER, [tmp_path], debounce=0.2, log=lambda m: None)
    stop, thread, child = start(reloader)
    stop.set()
    thread.join(15)
    assert child.poll() is not None
    assert reloader.child is None


def test_a_child_that_ignores_sigterm_is_killed(tmp_path):
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)",
    ]
    messages: list[str] = []
    reloader = Reloader(stubborn, [tmp_path], stop_timeout=0.5, log=messages.append)
    child = reloader.start_child()
    time.sleep(0.5)  # let it install its handler
    reloader.stop_child()
    assert child.poll() is not None
    assert any("killing its process group" in m for m in messages)


def test_a_crashed_child_is_reported_and_restarted_on_change(tmp_path):
    messages: list[str] = []
    reloader = Reloader([sys.executable, "-c", "raise SystemExit(3)"], [tmp_path], debounce=0.2, log=messages.append)
    stop = threading.Event()
    thread = threading.Thread(target=reloader.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: any("exited with code 3" in m for m in messages)), messages
        (tmp_path / "fix.py").write_text("x = 2\n")
        assert wait_for(lambda: reloader.restarts == 1), messages
    finally:
        stop.set()
        thread.join(15)


def test_the_command_runs_the_celery_worker_with_passthrough_args(monkeypatch, tmp_path):
    seen = {}

    class FakeReloader:
        def __init__(self, command, watch_paths, **kwargs):
            seen.update(command=command, watch_paths=watch_paths, **kwargs)

        def run(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(celery_command.Command, "reloader_class", FakeReloader)
    call_command("celery", "--watch", str(tmp_path), "--debounce", "0.5", "--", "-Q", "payments", "-c", "2")
    assert seen["command"] == [*celery_command.CELERY_WORKER_COMMAND, "-Q", "payments", "-c", "2"]
    assert seen["command"][1:8] == ["-m", "celery", "-A", "commerce_coordinator", "worker", "-l", "INFO"]
    assert seen["watch_paths"] == [str(tmp_path)]
    assert seen["debounce"] == 0.5


def test_the_command_watches_the_package_by_default(monkeypatch):
    seen = {}

    class FakeReloader:
        def __init__(self, command, watch_paths, **kwargs):
            seen.update(command=command, watch_paths=watch_paths)

        def run(self):
            return None

    monkeypatch.setattr(celery_command.Command, "reloader_class", FakeReloader)
    call_command("celery")
    assert seen["command"] == celery_command.CELERY_WORKER_COMMAND
    assert seen["watch_paths"][0].endswith("commerce_coordinator")


def test_a_broken_output_does_not_keep_the_child_running(tmp_path):
    def broken_log(message):
        raise BrokenPipeError("the reader of our output is gone")

    reloader = Reloader(SLEEPER, [tmp_path], debounce=0.2, log=broken_log)
    stop, thread, child = start(reloader)
    stop.set()
    thread.join(15)
    assert child.poll() is not None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_the_child_dies_with_a_reloader_that_is_killed_outright(tmp_path):
    script = (
        "import sys, time\n"
        "from commerce_coordinator.apps.core.management.commands.celery import Reloader\n"
        f"reloader = Reloader({SLEEPER!r}, [{str(tmp_path)!r}], log=lambda m: None)\n"
        "print(reloader.start_child().pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=settings.BASE_DIR)
    try:
        child_pid = int(parent.stdout.readline())
        assert _alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: not _alive(child_pid)), "the worker outlived its killed reloader"
    finally:
        parent.kill()
        parent.wait()


def test_the_command_survives_a_closed_output(monkeypatch):
    class ClosedOutput:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            raise BrokenPipeError

    class FakeReloader:
        def __init__(self, command, watch_paths, **kwargs):
            self.log = kwargs["log"]

        def run(self):
            self.log("started")
            raise KeyboardInterrupt

    monkeypatch.setattr(celery_command.Command, "reloader_class", FakeReloader)
    call_command("celery", stdout=ClosedOutput())
