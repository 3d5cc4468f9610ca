"""Provisioning of the demo plans (idempotent), the operator commands, the settings checks."""

import json

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.subscriptions.checks import check_subscriptions_settings
from commerce_coordinator.apps.subscriptions.models import Plan

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_provisioning_adds_the_demo_plans_once_and_keeps_a_managers_price():
    assert "demo-monthly" in call_command("provision_demo_subscriptions")
    Plan.objects.filter(code="demo-monthly").update(price="12.00")
    assert call_command("provision_demo_subscriptions") == ""
    assert str(Plan.objects.get(code="demo-monthly").price) == "12.00"


def test_provisioning_is_one_of_the_demo_data_commands(settings):
    assert "provision_demo_subscriptions" in settings.CC_DEMO_DATA_COMMANDS


def test_the_commands_with_nothing_due_change_nothing():
    assert json.loads(call_command("renew_subscriptions", "--json")) == {
        "renewed": 0, "canceled": 0, "expired": 0, "refused": 0, "skipped": 0, "failed": 0, "incomplete_expired": 0
    }  # fmt: skip
    assert json.loads(call_command("send_renewal_reminders", "--json")) == {"sent": 0, "skipped": 0}


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [("SUBSCRIPTIONS_REMINDER_DAYS", [7, 0], "subscriptions.E001"),
     ("SUBSCRIPTIONS_REMINDER_DAYS", "7,1", "subscriptions.E001"),
     ("SUBSCRIPTIONS_BATCH_SIZE", 0, "subscriptions.E002")],
)  # fmt: skip
def test_bad_settings_are_named_by_their_check(settings, name, value, check_id):
    setattr(settings, name, value)
    assert [e.id for e in check_subscriptions_settings()] == [check_id]


def test_the_shipped_settings_pass_the_checks():
    assert check_subscriptions_settings() == []


def test_the_beat_runs_renewals_and_reminders(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"subscriptions.renew_due", "subscriptions.send_reminders"} <= tasks
