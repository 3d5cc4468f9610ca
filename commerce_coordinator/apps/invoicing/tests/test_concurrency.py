"""MariaDB: billing commands run twice at once, or killed mid-way and run again, never duplicate anything.

Each command runs as its own `manage.py` process on this test's databases, charging through the demo
gateway on the live server (50 ms per charge, so that runs overlap and a kill lands mid-run).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Count

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceCharge

from . import factories

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]
ACCOUNTS = 40


def command(gateway, *args, billing=True, **extra_env) -> subprocess.Popen:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="commerce_coordinator.settings.test",
        DB_NAME=str(connections["default"].settings_dict["NAME"]),
        TRACES_DB_NAME=str(connections["traces"].settings_dict["NAME"]),
        STRIPE_API_BASE=f"{gateway.url}/stripe",
        CLOUDPAYMENTS_API_BASE=f"{gateway.url}/cloudpayments",
        INVOICING_BATCH_SIZE="10",
        **extra_env,
    )
    env.pop("CC_WORKER_BROKER_URL", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", *args, *(["--json", "--period", "2026-12"] if billing else [])],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process, parse=True) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]) if parse else out


@pytest.fixture
def accounts(settings):
    settings.DEMO_GATEWAY_LATENCY = 0.05
    cards = ["ok", "soft", "hard", "cp_ok"]
    return [factories.account(cards[n % 4], lms_user_id=n) for n in range(ACCOUNTS)]


def _no_duplicates():
    ChargeAttempt = apps.get_model("payments", "ChargeAttempt")
    per_period = Invoice.objects.values("account_id", "period_start").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_period.exists()
    per_attempt = InvoiceCharge.objects.values("invoice_id", "attempt").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_attempt.exists()
    keys = set(InvoiceCharge.objects.values_list("idempotency_key", flat=True))
    assert keys == set(ChargeAttempt.objects.values_list("idempotency_key", flat=True))


def _retried_calls() -> int:
    """Gateway calls that were retries of an attempt (core's policy after a timeout): its tries after the first."""
    tries = apps.get_model("payments", "ChargeAttempt").objects.values_list("attempts", flat=True)
    return sum(n - 1 for n in tries if n > 1)


def test_two_create_invoices_at_once_make_one_invoice_per_account_and_period(gateway, accounts):
    first, second = command(gateway, "create_invoices"), command(gateway, "create_invoices")
    results = [finish(first), finish(second)]
    assert sum(r["created"] for r in results) == ACCOUNTS
    assert Invoice.objects.count() == ACCOUNTS
    _no_duplicates()


def test_two_dispatch_invoices_at_once_charge_each_attempt_once(gateway, accounts):
    factories.start_clock_in_period()
    finish(command(gateway, "create_invoices"))
    first, second = command(gateway, "dispatch_invoices"), command(gateway, "dispatch_invoices")
    results = [finish(first), finish(second)]
    assert sum(r["dispatched"] for r in results) == ACCOUNTS
    assert sum(r["charges"] for r in results) == ACCOUNTS == InvoiceCharge.objects.count()
    # One gateway call per attempt, and one more per retry of a call that timed out on a loaded machine (the same
    # idempotency key: the gateway replays its answer, so still one charge per attempt).
    assert gateway.calls() == ACCOUNTS + _retried_calls()
    assert apps.get_model("demo_gateway", "DemoCharge").objects.count() == ACCOUNTS
    _no_duplicates()
    calls = gateway.calls()
    assert finish(command(gateway, "dispatch_invoices"))["charges"] == 0 and gateway.calls() == calls


def test_a_dispatch_killed_mid_way_then_run_again_duplicates_nothing(gateway, accounts):
    finish(command(gateway, "create_invoices"))
    victim = command(gateway, "dispatch_invoices")
    deadline = time.monotonic() + 60
    while InvoiceCharge.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    charged_before = InvoiceCharge.objects.count()
    assert 5 <= charged_before < ACCOUNTS, "the kill did not land mid-run"
    again = finish(command(gateway, "dispatch_invoices"))
    assert again["resumed_from"] is not None
    _no_duplicates()
    assert Invoice.objects.filter(state="open", number__isnull=True).count() == 0
    assert Invoice.objects.filter(state__in=["draft", "error"]).count() == 0
    # The attempts of the killed run's last page were stored but never run (and one may have died
    # mid-call): core's sweep finds them and runs them, the one mid-call with the same idempotency key.
    ChargeAttempt = apps.get_model("payments", "ChargeAttempt")
    assert ChargeAttempt.objects.exclude(status__in=["done", "failed"]).count() <= 10  # one page at most
    swept = command(gateway, "sweep_durable_work", "--skip-checks", billing=False, CC_DURABLE_STALLED_AFTER="-1",
                    CC_DURABLE_RUNNING_TIMEOUT="-1")  # fmt: skip
    finish(swept, parse=False)
    assert not ChargeAttempt.objects.exclude(status__in=["done", "failed"]).exists()
    assert not Invoice.objects.filter(charge_in_flight=True).exists()
    DemoCharge = apps.get_model("demo_gateway", "DemoCharge")
    assert DemoCharge.objects.count() == ChargeAttempt.objects.count() == ACCOUNTS  # one charge per attempt
    calls_before_rerun = gateway.calls()
    assert finish(command(gateway, "dispatch_invoices"))["charges"] == 0
    assert gateway.calls() == calls_before_rerun
