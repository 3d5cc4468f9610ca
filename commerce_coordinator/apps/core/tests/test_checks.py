"""Each configuration check fires on a bad CC_SIGNALS and stays quiet on the shipped one."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from commerce_coordinator.apps.core.checks import check_waffle_switches_exist, refuse_to_start_on_errors
from commerce_coordinator.apps.core.tests.fixtures import PREFIX

SIGNAL = PREFIX + "order_placed"
from commerce_coordinator.apps.core.tests.fixtures import order_placed as ALIAS  # noqa: E402,F401  (E008)

GOOD = PREFIX + "record"


def check_ids(cc_signals):
    with override_settings(CC_SIGNALS=cc_signals):
        return [m.id for m in run_checks() if m.id.startswith("core.E")]


@pytest.mark.parametrize(
    "check_id, cc_signals",
    [
        ("core.E001", ["not", "a", "dict"]),
        ("core.E001", {SIGNAL: "not a list"}),
        ("core.E001", {SIGNAL: [42]}),
        ("core.E001", {SIGNAL: [{"receiver": GOOD, "sweitch": "x"}]}),
        ("core.E001", {SIGNAL: [{"switch": "x"}]}),
        ("core.E002", {PREFIX + "no_such_signal": [GOOD]}),
        ("core.E002", {"no_such_module.signal": [GOOD]}),
        ("core.E003", {PREFIX + "record": [GOOD]}),
        ("core.E004", {SIGNAL: [PREFIX + "no_such_receiver"]}),
        ("core.E005", {SIGNAL: [PREFIX + "NOT_CALLABLE"]}),
        ("core.E006", {SIGNAL: [PREFIX + "takes_nothing"]}),
        ("core.E006", {SIGNAL: [PREFIX + "only_order_number"]}),
        ("core.E007", {PREFIX + "object_signal": [PREFIX + "object_task"]}),
        ("core.E008", {SIGNAL: [GOOD, GOOD]}),
        ("core.E008", {SIGNAL: [GOOD], "commerce_coordinator.apps.core.tests.test_checks.ALIAS": [GOOD]}),
        ("core.E009", {SIGNAL: []}),
        ("core.E010", {SIGNAL: [{"receiver": GOOD, "switch": "no.such.switch"}]}),
        ("core.E012", {SIGNAL: [{"receiver": GOOD, "queue": "fulfillment"}]}),
    ],
)
def test_each_error_fires_and_names_the_entry(check_id, cc_signals):
    with override_settings(CC_SIGNALS=cc_signals):
        messages = [m for m in run_checks() if m.id == check_id]
    assert messages, f"{check_id} did not fire"
    assert all(m.hint for m in messages)
    assert any("CC_SIGNALS" in m.msg for m in messages)


def test_an_in_process_receiver_may_take_objects():
    assert check_ids({PREFIX + "object_signal": [PREFIX + "any_kwargs"]}) == []


def test_a_receiver_with_kwargs_takes_any_signal():
    assert check_ids({SIGNAL: [PREFIX + "any_kwargs", PREFIX + "record_task"]}) == []


def test_the_shipped_configuration_is_clean():
    messages = [m for m in run_checks() if m.id.startswith("core.")]
    assert messages == []


def test_an_unrouted_declared_signal_is_a_warning():
    from django.conf import settings

    routed = dict(settings.CC_SIGNALS)
    dropped = routed.pop("commerce_coordinator.apps.demo_lms.signals.enroll_learner")
    assert dropped
    with override_settings(CC_SIGNALS=routed):
        warnings = [m for m in run_checks() if m.id == "core.W001"]
    assert len(warnings) == 1 and "enroll_learner" in warnings[0].msg


@pytest.mark.django_db
def test_a_declared_switch_missing_from_the_database_is_a_warning():
    from django.conf import settings
    from waffle.models import Switch

    warnings = check_waffle_switches_exist(databases=["default"])
    assert [w.id for w in warnings] == ["core.W002"] * len(settings.CC_WAFFLE_SWITCHES)  # one per missing switch
    for name in settings.CC_WAFFLE_SWITCHES:
        Switch.objects.create(name=name, active=True)
    assert check_waffle_switches_exist(databases=["default"]) == []
    assert check_waffle_switches_exist(databases=None) == []


def test_manage_py_check_fails_and_processes_refuse_to_start_on_an_error():
    with override_settings(CC_SIGNALS={SIGNAL: [PREFIX + "no_such_receiver"]}):
        with pytest.raises(SystemCheckError, match="core.E004"):
            call_command("check")
        with pytest.raises(SystemCheckError, match="refuses to start"):
            refuse_to_start_on_errors()
    refuse_to_start_on_errors()  # the shipped configuration starts


def test_manage_py_check_exits_non_zero_in_a_real_process(tmp_path):
    settings_module = tmp_path / "broken_settings.py"
    settings_module.write_text(
        f"from commerce_coordinator.settings.test import *\nCC_SIGNALS = {{{SIGNAL!r}: ['no.such.receiver']}}\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}:.", "DJANGO_SETTINGS_MODULE": "broken_settings", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env, cwd=settings.BASE_DIR
    )
    assert proc.returncode != 0
    assert "core.E004" in proc.stderr and "no.such.receiver" in proc.stderr


def broken_settings_env(tmp_path) -> dict:
    (tmp_path / "broken_settings.py").write_text(
        f"from commerce_coordinator.settings.test import *\nCC_SIGNALS = {{{SIGNAL!r}: ['no.such.receiver']}}\n"
    )
    return {
        "PYTHONPATH": f"{tmp_path}:{settings.BASE_DIR}",
        "DJANGO_SETTINGS_MODULE": "broken_settings",
        "PATH": "/usr/bin:/bin",
        "CC_WORKER_BROKER_URL": "memory://localhost/",
    }


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "celery", "-A", "commerce_coordinator", "worker", "--pool=solo"],
        ["-c", "import commerce_coordinator.wsgi"],
    ],
    ids=["celery-worker", "wsgi"],
)
def test_web_and_worker_processes_refuse_to_start_on_an_error(tmp_path, command):
    proc = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=broken_settings_env(tmp_path),
        cwd=settings.BASE_DIR,
    )
    assert proc.returncode != 0
    assert "refuses to start" in proc.stderr and "core.E004" in proc.stderr
    assert "ready." not in proc.stdout + proc.stderr


def test_a_code_side_connection_to_an_unrouted_signal_is_an_error():
    from commerce_coordinator.apps.core.tests.fixtures import nested_signal

    nested_signal.connect(lambda **kw: None)
    try:
        assert "core.E011" in check_ids({SIGNAL: [GOOD]})
    finally:
        nested_signal.foreign_connections.clear()


def test_one_receiver_under_two_paths_is_a_duplicate():
    assert check_ids({SIGNAL: [GOOD, PREFIX + "record_alias"]}) == ["core.E008"]


def test_a_task_receiver_may_take_optional_and_bytes_arguments():
    import commerce_coordinator.apps.core.tests.test_checks as here
    from commerce_coordinator.apps.core.signals import CoordinatorSignal

    here.bytes_signal = CoordinatorSignal({"note": str | None, "blob": bytes})
    try:
        ids = check_ids({"commerce_coordinator.apps.core.tests.test_checks.bytes_signal": [PREFIX + "any_kwargs_task"]})
        assert ids == []
    finally:
        del here.bytes_signal


@pytest.mark.django_db
def test_sync_switches_creates_the_declared_switches_once():
    from io import StringIO

    from waffle.models import Switch

    out = StringIO()
    call_command("sync_switches", stdout=out)
    assert "switch demo_lms.send_confirmation_email: created (on)" in out.getvalue()
    Switch.objects.filter(name="demo_lms.send_confirmation_email").update(active=False)
    call_command("sync_switches", stdout=out)
    assert "already present (off)" in out.getvalue()
    assert check_waffle_switches_exist(databases=["default"]) == []
