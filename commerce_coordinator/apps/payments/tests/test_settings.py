"""The shipped settings of payments: webhook processing on its own Celery queue (issue 9, item 7), documented
environment settings, and the checks that refuse a bad combination or name a setting no longer read."""

import importlib

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.celery import app

from ..checks import check_charge_credentials, check_payment_providers
from ..tasks import process_webhook_event, process_webhook_events


def test_webhook_processing_has_its_own_queue_in_the_shipped_settings():
    from commerce_coordinator.settings import base

    queue = base.PAYMENTS_CELERY_QUEUE
    assert queue == "payments" and queue != base.CELERY_TASK_DEFAULT_QUEUE
    for task in (process_webhook_event, process_webhook_events):
        assert base.CELERY_TASK_ROUTES[task.name] == {"queue": queue}
    # Fulfillment is not on it, and a worker started without -Q consumes both queues.
    assert base.CELERY_TASK_ROUTES.get("lms.process_line", {}).get("queue") != queue
    assert {q.name for q in base.CELERY_TASK_QUEUES} >= {queue, base.CELERY_TASK_DEFAULT_QUEUE}


def test_celery_routes_the_webhook_tasks_to_that_queue_and_fulfillment_elsewhere(settings):
    router = app.amqp.Router()
    for task in (process_webhook_event, process_webhook_events):
        assert router.route({}, task.name)["queue"].name == settings.PAYMENTS_CELERY_QUEUE
    assert router.route({}, "lms.process_line")["queue"].name == app.conf.task_default_queue


def test_the_queue_and_the_intervals_are_environment_settings(monkeypatch):
    from commerce_coordinator.settings.components import payments

    monkeypatch.setenv("PAYMENTS_CELERY_QUEUE", "webhooks")
    monkeypatch.setenv("PAYMENTS_RETRY_SCHEDULE", "1,2,3")
    monkeypatch.setenv("PAYMENTS_TASK_TIME_LIMIT", "120")
    monkeypatch.setenv("PAYMENTS_EVENT_RETENTION_DAYS", "30")
    monkeypatch.setenv("PAYMENTS_MAX_COURSE_RUNS_PER_EVENT", "50")
    try:
        reloaded = importlib.reload(payments)
        assert reloaded.PAYMENTS_TASK_ROUTES[process_webhook_event.name] == {"queue": "webhooks"}
        assert reloaded.PAYMENTS_RETRY_SCHEDULE == [1.0, 2.0, 3.0]
        assert (reloaded.PAYMENTS_TASK_TIME_LIMIT, reloaded.PAYMENTS_EVENT_RETENTION_DAYS) == (120, 30)
        assert reloaded.PAYMENTS_MAX_COURSE_RUNS_PER_EVENT == 50
    finally:
        monkeypatch.undo()
        importlib.reload(payments)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_running_timeout_below_the_task_time_limit_is_refused(settings):
    settings.CC_DURABLE_RUNNING_TIMEOUT = settings.PAYMENTS_TASK_TIME_LIMIT
    assert "payments.E003" in [m.id for m in check_payment_providers()]


def test_a_setting_no_longer_read_is_named_with_its_replacement(settings):
    settings.PAYMENTS_PROCESSING_TIMEOUT = 900
    [warning] = [m for m in check_payment_providers() if m.id == "payments.W002"]
    assert "PAYMENTS_PROCESSING_TIMEOUT" in warning.msg and "CC_DURABLE_RUNNING_TIMEOUT" in warning.hint


def test_the_processing_chain_is_an_import_linter_layers_contract():
    """tasks -> processing -> inbox -> relay -> models, kept by `lint-imports` in `make quality` (ADR 15)."""
    import tomllib

    from django.conf import settings

    config = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())
    [contract] = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["type"] == "layers" and c.get("containers") == ["commerce_coordinator.apps.payments"]
    ]
    assert contract["layers"] == ["tasks", "processing", "inbox", "relay", "models"]


def test_charging_without_the_providers_credentials_is_a_system_check_error(settings):
    assert check_charge_credentials() == []  # test settings: the demo gateway's credentials
    settings.STRIPE_API_KEY, settings.CLOUDPAYMENTS_PUBLIC_ID = " ", ""
    assert [(m.id, m.obj) for m in check_charge_credentials()] == [
        ("payments.E004", "STRIPE_API_KEY"), ("payments.E005", "CLOUDPAYMENTS_PUBLIC_ID")]  # fmt: skip
    assert "Set STRIPE_API_KEY" in check_charge_credentials()[0].hint
    settings.PAYMENTS_CHARGE_PROVIDERS = []  # this deployment charges through neither
    assert check_charge_credentials() == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"STRIPE_API_KEY": None}, "payments.E004"),
        ({"STRIPE_API_KEY": ""}, "payments.E004"),
        ({"CLOUDPAYMENTS_PUBLIC_ID": None}, "payments.E005"),
    ],
)
def test_production_settings_refuse_to_start_without_the_charge_credentials(tmp_path, overrides, error):
    from commerce_coordinator.apps.core.tests.test_production_settings import run_check

    result = run_check(tmp_path, **overrides)
    assert result.returncode != 0 and error in result.stderr + result.stdout
    assert "HINT: Set " in result.stderr + result.stdout
    without_stripe = run_check(tmp_path, STRIPE_API_KEY=None, PAYMENTS_CHARGE_PROVIDERS="cloudpayments")
    assert without_stripe.returncode == 0, without_stripe.stdout + without_stripe.stderr
