"""`manage.py migrate` alone migrates every database alias; an unmigrated one is named by `manage.py check`,
reported by /health/ and answered 503 by the trace pages (issue 8, "a newcomer's habits").

Run as a user does: subprocesses of manage.py on the local settings in a fresh temporary CC_VAR_DIR.
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings

PAGES = ["/health/", "/core/traces/", "/core/traces/" + "a" * 32 + "/", "/admin/core/trace/", "/admin/core/tracenode/"]

# Run inside `manage.py shell`: a staff user, then each page through Django's test client (no server needed).
VISIT_PAGES = f"""
import json
from django.contrib.auth import get_user_model
from django.test import Client
User = get_user_model()
user = User.objects.filter(username="ops").first() or User.objects.create_superuser("ops", "ops@example.invalid", "pw")
client = Client(raise_request_exception=False)
client.force_login(user)
pages = {{}}
for path in {PAGES!r}:
    response = client.get(path)
    pages[path] = [response.status_code, response.content.decode()[:2000]]
print("PAGES=" + json.dumps(pages))
"""


@pytest.fixture
def manage(tmp_path):
    """Run manage.py as a newcomer does: local settings, SQLite files in a fresh CC_VAR_DIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "TRACES_DB", "DJANGO_", "CELERY_"))}
    env.update(CC_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="commerce_coordinator.settings.local")

    def run(*args, check=True):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    run.var = tmp_path / "var"
    return run


def tables(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def visit_pages(manage) -> dict:
    output = manage("shell", "-c", VISIT_PAGES).stdout
    return json.loads(output.split("PAGES=", 1)[1])


def test_a_plain_migrate_migrates_every_alias(manage):
    result = manage("migrate", "--noinput")
    assert "Database alias 'default'" in result.stdout and "Database alias 'traces'" in result.stdout
    assert "core_tracenode" in tables(manage.var / "commerce_coordinator_traces.sqlite3")
    assert "auth_user" in tables(manage.var / "commerce_coordinator.sqlite3")
    check = manage("check")
    assert "core.W020" not in check.stdout + check.stderr
    pages = visit_pages(manage)
    assert {path: status for path, (status, _) in pages.items()} == dict.fromkeys(PAGES, 200) | {
        PAGES[2]: 404  # no such trace: a JSON 404, the table is there
    }
    # --database still migrates one alias only
    again = manage("migrate", "--database", "traces", "--noinput")
    assert "No migrations to apply" in again.stdout and "Database alias" not in again.stdout


def test_an_unmigrated_traces_database_is_named_reported_and_answered_503(manage):
    manage("migrate", "--database", "default", "--noinput")  # the old half of the habit
    assert "core_tracenode" not in tables(manage.var / "commerce_coordinator_traces.sqlite3")
    check = manage("check")
    output = check.stdout + check.stderr
    assert "core.W020" in output and "'traces'" in output and "manage.py migrate" in output

    pages = visit_pages(manage)
    status, body = pages["/health/"]
    assert status == 503
    assert json.loads(body)["database"]["aliases"]["traces"]["status"] == "down"
    for path in PAGES[1:3]:
        status, body = pages[path]
        assert status == 503, (path, body)
        assert json.loads(body)["error"] == "database_not_migrated"
        assert "'traces'" in json.loads(body)["detail"] and "manage.py migrate" in json.loads(body)["detail"]
    for path in PAGES[3:]:
        status, body = pages[path]
        assert status == 503, (path, body[:300])
        assert "is not migrated" in body and "manage.py migrate" in body

    manage("migrate", "--noinput")  # the fix the messages name
    assert "core.W020" not in manage("check").stdout
    assert visit_pages(manage)["/health/"][0] == 200
