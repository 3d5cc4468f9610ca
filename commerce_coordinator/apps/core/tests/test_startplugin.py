"""manage.py startplugin: each kind scaffolded into a temporary directory, wired into settings exactly as the
command prints, passes `manage.py check` and its own generated tests (in a subprocess); bad names are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

KINDS = ("backend", "provider", "app")


def scaffold(name: str, kind: str, where: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command("startplugin", name, "--kind", kind, str(where), stdout=out)
    return out.getvalue()


def settings_module(printed: list[str]) -> str:
    """A settings module that adds each printed `    SETTING: entry` line to the test settings."""
    entries: dict[str, list[str]] = {}
    section = ""
    for text in printed:
        for line in text.splitlines():
            if line.startswith("Add to "):
                section = line
            elif section == "Add to settings:" and line.startswith("    "):
                setting, entry = line.strip().split(": ", 1)
                entries.setdefault(setting, []).append(entry)
    body = ["from commerce_coordinator.settings.test import *  # noqa: F403", ""]
    for setting, items in entries.items():
        is_dict = all(": " in item for item in items)
        opening, splat, closing = ("{", "**", "}") if is_dict else ("[", "*", "]")
        body.append(f"{setting} = {opening}{splat}{setting}, {' '.join(items)}{closing}  # noqa: F405")
    return "\n".join(body) + "\n"


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        "DJANGO_SETTINGS_MODULE": "scaffold_settings",
        "DB_ENGINE": "sqlite",  # never the MariaDB test database this run is using
        "CC_VAR_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )


def test_each_kind_scaffolded_and_wired_as_printed_passes_check_and_its_tests(tmp_path):
    printed = [scaffold(f"acme_{kind}", kind, tmp_path) for kind in KINDS]
    for kind, text in zip(KINDS, printed, strict=True):
        app = tmp_path / f"acme_{kind}"
        face = ["signals.py", "receivers.py", "tasks.py", "clients.py", "views.py", "urls.py", "models.py"]
        face += ["admin.py", "apps.py", "management/commands/__init__.py", "tests/__init__.py"]
        assert all((app / f).is_file() for f in face), kind
        assert "contract 1 forbidden_modules" in text and "contract 2 modules" in text
    assert "CC_CONTRACT_BACKENDS" in printed[0] and "CC_PAYMENT_PROVIDERS" in printed[1]
    (tmp_path / "scaffold_settings.py").write_text(settings_module(printed))
    check = run(["manage.py", "check"], tmp_path)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "acme" not in check.stderr  # no warning about the new apps (their signals are routed)
    apps = [str(tmp_path / f"acme_{kind}") for kind in KINDS]
    tests = run(["-m", "pytest", *apps, "-q", "-p", "no:cacheprovider", "--ds", "scaffold_settings"], tmp_path)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout  # a signal test per app, one for the backend plugin, two for the provider


@pytest.mark.parametrize("name", ["9lives", "class", "Acme", "acme-pay", "a b"])
def test_an_invalid_identifier_is_refused(tmp_path, name):
    with pytest.raises(CommandError, match="not a valid app name"):
        scaffold(name, "app", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_name_is_refused_and_nothing_is_overwritten(tmp_path):
    scaffold("acme", "app", tmp_path)
    before = (tmp_path / "acme" / "signals.py").read_text()
    with pytest.raises(CommandError, match="already exists"):
        scaffold("acme", "backend", tmp_path)
    assert (tmp_path / "acme" / "signals.py").read_text() == before
    with pytest.raises(CommandError, match="already exists"):
        call_command("startplugin", "lms", "--kind", "app")  # an app of the project
    with pytest.raises(CommandError, match="already a key of CC_PAYMENT_PROVIDERS"):
        scaffold("stripe", "provider", tmp_path)
    with pytest.raises(CommandError, match="label 'core'"):
        scaffold("core", "app", tmp_path)
