"""Production settings: `check --deploy` is clean, and an unsafe configuration refuses to start.

Each case runs `manage.py check --deploy` in a subprocess with a controlled
environment. The database port points where nothing listens: the check must
not need a database connection.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

GOOD_SECRET = "kq3v9Zr0-Xy7_pL2mN8bT4cW6dF1gH5jK0sA9eR3uI7oP2lQ8z"  # 50 characters, not a real secret
assert len(GOOD_SECRET) >= 50


def run_check(tmp_path: Path, **env_overrides) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CC_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "commerce_coordinator.settings.production",
        "DJANGO_SECRET_KEY": GOOD_SECRET,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "ALLOWED_HOSTS": "coordinator.example.com",
        "DB_NAME": "commerce_coordinator",
        "TRACES_DB_NAME": "commerce_coordinator_traces",
        "DB_USER": "coordinator",
        "DB_PASSWORD": "not-used-here",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "1",
        "STRIPE_WEBHOOK_SECRET": "whsec_not_a_real_secret",
        "CLOUDPAYMENTS_API_SECRET": "cp_not_a_real_secret",
        "STRIPE_API_KEY": "sk_live_not_a_real_key",
        "CLOUDPAYMENTS_PUBLIC_ID": "pk_not_a_real_id",
        "LMS_OAUTH_CLIENT_SECRET": "lms_not_a_real_secret",
    }
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_on_a_complete_production_configuration(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_secrets_may_come_from_the_yaml_file(tmp_path):
    config = tmp_path / "cc.yml"
    config.write_text(f"SECRET_KEY: {GOOD_SECRET}\nCELERY_BROKER_URL: redis://127.0.0.1:6379/2\n")
    result = run_check(tmp_path, DJANGO_SECRET_KEY=None, CELERY_BROKER_URL=None, COMMERCE_COORDINATOR_CFG=str(config))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "missing required setting(s) SECRET_KEY"),
        ({"CELERY_BROKER_URL": None}, "missing required setting(s) CELERY_BROKER_URL"),
        ({"STRIPE_WEBHOOK_SECRET": None}, "missing required setting(s) STRIPE_WEBHOOK_SECRETS"),
        ({"CLOUDPAYMENTS_API_SECRET": None}, "missing required setting(s) CLOUDPAYMENTS_API_SECRETS"),
        ({"LMS_OAUTH_CLIENT_SECRET": None}, "missing required setting(s) LMS_OAUTH_CLIENT_SECRET"),
        ({"DJANGO_SECRET_KEY": "insecure-dev-only-secret-key"}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + GOOD_SECRET}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_SECRET_KEY": "short-key"}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_SECRET_KEY": "ab" * 30}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_DEBUG": "true"}, "DEBUG is on"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({"DJANGO_SECRET_KEY": "Xy7_pL2mN8bT4cW6dF1gH5jK0sA9eR" * 3}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_SECRET_KEY": " " * 40 + "kq3v9Zr0-Xy7_pL2mN8b"}, "SECRET_KEY is a default or weak key"),
        ({"DJANGO_SECRET_KEY": "abcdefghij" * 6 + "k"}, "SECRET_KEY is a default or weak key"),
        ({"LMS_OAUTH_CLIENT_SECRET": " "}, "missing required setting(s) LMS_OAUTH_CLIENT_SECRET"),
        ({"LMS_OAUTH_CLIENT_SECRET": ""}, "missing required setting(s) LMS_OAUTH_CLIENT_SECRET"),
        ({"CELERY_BROKER_URL": "memory://"}, "CELERY_BROKER_URL is memory://"),
        ({"CC_DEMO_ENDPOINTS_ENABLED": "true"}, "CC_DEMO_ENDPOINTS_ENABLED is on"),
        ({"ALLOWED_HOSTS": "coordinator.example.com,*"}, "ALLOWED_HOSTS contains '*'"),
    ],
    ids=[
        "no-secret",
        "no-broker",
        "no-stripe-secret",
        "no-cloudpayments-secret",
        "no-lms-secret",
        "default-key",
        "django-insecure-key",
        "short-key",
        "low-entropy-key",
        "debug",
        "no-hosts",
        "repeated-pattern-key",
        "mostly-spaces-key",
        "nearly-periodic-key",
        "blank-lms-secret",
        "empty-lms-secret",
        "memory-broker",
        "demo-endpoints",
        "any-host",
    ],
)
def test_an_unsafe_configuration_refuses_to_start(tmp_path, overrides, message):
    result = run_check(tmp_path, **overrides)
    assert result.returncode != 0
    assert "Refusing to start with production settings" in result.stderr
    assert message in result.stderr


def test_debug_from_the_yaml_file_is_refused(tmp_path):
    config = tmp_path / "cc.yml"
    config.write_text("DEBUG: true\n")
    result = run_check(tmp_path, COMMERCE_COORDINATOR_CFG=str(config))
    assert result.returncode != 0
    assert "DEBUG is on" in result.stderr


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("CC_DEMO_ENDPOINTS_ENABLED: true\n", "CC_DEMO_ENDPOINTS_ENABLED is on"),
        ("CELERY_BROKER_URL: memory://\n", "CELERY_BROKER_URL is memory://"),
        ("ALLOWED_HOSTS: ['*']\n", "ALLOWED_HOSTS contains '*'"),
        ("LMS_OAUTH_CLIENT_SECRET: '   '\n", "missing required setting(s) LMS_OAUTH_CLIENT_SECRET"),
    ],
    ids=["demo-endpoints", "memory-broker", "any-host", "blank-lms-secret"],
)
def test_unsafe_values_from_the_yaml_file_are_refused(tmp_path, yaml_text, message):
    config = tmp_path / "cc.yml"
    config.write_text(yaml_text)
    result = run_check(tmp_path, COMMERCE_COORDINATOR_CFG=str(config))
    assert result.returncode != 0
    assert message in result.stderr
