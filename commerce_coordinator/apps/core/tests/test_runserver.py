"""runserver's embedded worker and address (ADR 22, 23), in process; tests/test_embedded_default.py runs
the real command in a subprocess. Also the observed sends of a task receiver, and without a traces table."""

import os
from unittest import mock

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core import routing
from commerce_coordinator.apps.core.management.commands import runserver
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, order_placed


@pytest.mark.parametrize(
    ("addr", "ipv6", "url"),
    [
        ("0.0.0.0", False, "http://127.0.0.1:8000"),
        ("127.0.0.1", False, "http://127.0.0.1:8000"),
        ("localhost", False, "http://localhost:8000"),
        ("::", True, "http://[::1]:8000"),
        ("::1", True, "http://[::1]:8000"),
    ],
)
def test_server_url_is_where_a_local_client_reaches_the_server(addr, ipv6, url):
    assert runserver.server_url(addr, 8000, ipv6) == url


def test_the_embedded_worker_runs_with_beat_reloading_or_not(settings, tmp_path):
    settings.CC_EMBEDDED_BROKER_DIR = tmp_path
    reloading = runserver.embedded_worker_command(8123, reload=True)
    assert reloading[1:4] == [str(settings.BASE_DIR / "manage.py"), "celery", "--"]
    plain = runserver.embedded_worker_command(8123, reload=False)
    assert plain[:6] == runserver.CELERY_WORKER_COMMAND[:6] and "worker" in plain
    for command in (reloading, plain):
        assert "--beat" in command and str(tmp_path / "beat-schedule") in command
        assert "embedded-8123@%h" in command


def test_no_worker_option():
    parser = runserver.Command().create_parser("manage.py", "runserver")
    assert parser.parse_args(["--no-worker"]).start_worker is False
    assert parser.parse_args(["8000"]).start_worker is True


class FakeWorker:
    started: list = []

    def __init__(self, command, watch, **options):
        self.command, self.options = command, options

    def start_child(self):
        FakeWorker.started.append(self)

    def stop_child(self):
        pass


@pytest.fixture
def bound(settings, monkeypatch, tmp_path):
    """A runserver Command as inner_run leaves it, with the worker and atexit swapped for recorders."""
    settings.CC_EMBEDDED_BROKER_DIR = tmp_path
    monkeypatch.setattr(runserver, "Reloader", FakeWorker)
    exits = []
    monkeypatch.setattr(runserver.atexit, "register", exits.append)
    monkeypatch.setitem(os.environ, "CC_DEV_SERVER_URL", "unset")
    FakeWorker.started = []
    command = runserver.Command()
    command.addr, command.use_ipv6, command._raw_ipv6 = "0.0.0.0", False, False
    command.start_worker, command.reload_worker = True, True
    return command, exits


def test_on_bind_starts_the_worker_and_tells_the_demo_lms_its_port(bound, settings):
    command, exits = bound
    settings.CC_DEV_SERVER_WORKER, settings.CC_DEMO_LMS_ON_DEV_SERVER = True, True
    command.on_bind(8765)
    assert os.environ["CC_DEV_SERVER_URL"] == "http://127.0.0.1:8765"
    assert settings.LMS_URL_ROOT == "http://127.0.0.1:8765/demo_lms"
    [worker] = FakeWorker.started
    assert "embedded-8765@%h" in worker.command and worker.options["cwd"] == settings.BASE_DIR
    assert exits == [worker.stop_child]


def test_on_bind_leaves_a_configured_lms_and_a_real_broker_alone(bound, settings):
    command, exits = bound
    settings.CC_DEV_SERVER_WORKER, settings.CC_DEMO_LMS_ON_DEV_SERVER = False, False
    settings.LMS_URL_ROOT = "https://lms.example.org"
    command.on_bind(8765)
    assert settings.LMS_URL_ROOT == "https://lms.example.org"
    assert FakeWorker.started == [] and exits == []


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_task_receivers_send_is_observed_under_the_receivers_path(django_capture_on_commit_callbacks):
    routes = {
        PREFIX + "order_placed": [PREFIX + "send_nested_task"],
        PREFIX + "nested_signal": [PREFIX + "nested_receiver"],
    }
    with override_settings(CC_SIGNALS=routes), django_capture_on_commit_callbacks(execute=True):
        order_placed.send("t", order_number="T-1", count=1)
    with override_settings(CC_SIGNALS=routes):
        observed = routing.observed_sends()
    assert {"sender": PREFIX + "send_nested_task", "sender_kind": "receiver", "signal": PREFIX + "nested_signal"} in (
        observed
    )


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_no_traces_table_means_nothing_observed():
    with mock.patch.object(TraceNode._meta, "db_table", "core_no_such_table"):
        assert routing.observed_sends() == []


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_send_inside_a_span_is_observed_under_the_receiver_that_opened_it():
    routes = {
        PREFIX + "order_placed": [PREFIX + "send_nested_in_a_span"],
        PREFIX + "nested_signal": [PREFIX + "nested_receiver"],
    }
    with override_settings(CC_SIGNALS=routes):
        order_placed.send("t", order_number="S-1", count=1)
        observed = routing.observed_sends()
    assert observed == [
        {"sender": PREFIX + "send_nested_in_a_span", "sender_kind": "receiver", "signal": PREFIX + "nested_signal"}
    ]
