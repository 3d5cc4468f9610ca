"""The billing commands: idempotent, resumable, scoped (--account --period --limit --dry-run --json)."""

import json
import os
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing import billing, clock
from commerce_coordinator.apps.invoicing.models import (
    BillingRun,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceState,
    Product,
    ProductPeriodMark,
)

from . import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def run(command, *args) -> dict:
    return json.loads(call_command(command, "--json", "--period", "2026-12", *args))


def test_create_invoices_creates_one_blank_invoice_per_active_account_and_a_rerun_none():
    accounts = [factories.account("none", lms_user_id=n) for n in range(1, 4)]
    factories.account("none", lms_user_id=99, status="closed")
    assert run("create_invoices") | {"run": None} == {
        "command": "create_invoices", "period": "2026-12", "dry_run": False, "run": None, "resumed_from": None,
        "created": 3, "already_present": 0,
    }  # fmt: skip
    assert run("create_invoices")["created"] == 0 and run("create_invoices")["already_present"] == 3
    assert Invoice.objects.count() == 3
    assert all(i.state == "draft" and i.period_end.day == 31 for i in Invoice.objects.all())
    assert [e.action for e in InvoiceEvent.objects.filter(invoice__account=accounts[0])] == ["create"]


def test_create_invoices_defaults_to_the_next_period_and_honours_dry_run_account_and_limit():
    a, b, c = (factories.account("none", lms_user_id=n) for n in range(1, 4))
    with factories.in_period():
        summary = json.loads(call_command("create_invoices", "--json", "--dry-run"))
    assert (summary["period"], summary["would_create"], Invoice.objects.count()) == ("2027-01", 3, 0)
    assert run("create_invoices", "--account", str(b.pk))["created"] == 1
    assert run("create_invoices", "--limit", "1")["created"] == 1
    assert set(Invoice.objects.values_list("account_id", flat=True)) == {a.pk, b.pk}


def test_bad_options_are_refused_with_a_message():
    with pytest.raises(CommandError, match="is not YYYY-MM"):
        call_command("create_invoices", "--period", "December")
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        call_command("dispatch_invoices", "--limit", "0")


def test_dispatch_populates_from_the_products_finalizes_and_bills_last_periods_extra_steps():
    account = factories.account("none", products=2, price="10.00")
    Product.objects.filter(account=account, name="plan 0").update(extra_steps=200)
    run("create_invoices")
    with factories.in_period():
        summary = run("dispatch_invoices")
    invoice = Invoice.objects.get(account=account)
    assert summary["dispatched"] == 1 and summary["payment_failed"] == 1 and summary["charges"] == 0
    assert invoice.state == InvoiceState.OPEN and invoice.number == f"INV-202612-{invoice.pk:07d}"
    assert invoice.total == Decimal("120.00")  # 2 x 10.00 + 200 extra steps x 0.50
    assert sorted(InvoiceLine.objects.filter(invoice=invoice).values_list("kind", flat=True)) == [
        "base", "base", "extra"]  # fmt: skip
    assert [e.action for e in invoice.events.all()] == ["create", "populate", "finalize", "charge_failed"]
    assert invoice.attempts == 1 and invoice.next_attempt_at is not None  # no saved method: tried again later
    again = run("dispatch_invoices")
    assert again["dispatched"] == 0 and again["charges"] == 0
    assert json.loads(call_command("audit_invoices", "--json")) == {"checked": 1, "problems": []}


def test_a_zero_invoice_is_paid_without_a_charge():
    account = factories.account("none", price="0.00")
    run("create_invoices")
    with factories.in_period():
        assert run("dispatch_invoices")["paid"] == 1
    assert Invoice.objects.get(account=account).state == InvoiceState.PAID


def test_one_failing_account_is_recorded_and_does_not_stop_the_run(monkeypatch):
    good, bad = factories.account("none", lms_user_id=1), factories.account("none", lms_user_id=2)
    run("create_invoices")
    populate = billing.populate_lines

    def broken(invoice, products):
        if invoice.account_id == bad.pk:
            raise ValueError("a product with no price")
        return populate(invoice, products)

    monkeypatch.setattr(billing, "populate_lines", broken)
    with factories.in_period():
        summary = run("dispatch_invoices")
    assert (summary["dispatched"], summary["errors"]) == (1, 1)
    assert summary["error_accounts"] == {str(bad.pk): "ValueError: a product with no price"}
    failed = Invoice.objects.get(account=bad)
    assert failed.state == InvoiceState.ERROR and "no price" in failed.last_error
    assert Invoice.objects.get(account=good).state == InvoiceState.OPEN
    run_row = BillingRun.objects.get(pk=summary["run"])
    assert run_row.status == "finished" and run_row.errors == summary["error_accounts"]
    monkeypatch.setattr(billing, "populate_lines", populate)
    with factories.in_period():
        assert run("dispatch_invoices")["dispatched"] == 1  # the error is retried by the next dispatch
    assert [e.action for e in Invoice.objects.get(pk=failed.pk).events.all()][-4:] == [
        "retry", "populate", "finalize", "charge_failed"]  # fmt: skip


def test_a_run_left_running_by_a_dead_process_is_resumed_from():
    factories.account("none")
    dead = BillingRun.objects.create(command="dispatch_invoices", pid=2**22 + 12345)  # no such process
    run("create_invoices")
    with factories.in_period():
        summary = run("dispatch_invoices")
    assert summary["resumed_from"] == dead.pk and summary["dispatched"] == 1
    assert BillingRun.objects.get(pk=dead.pk).status == "interrupted"
    alive = BillingRun.objects.create(command="dispatch_invoices", pid=os.getpid())
    assert run("dispatch_invoices")["resumed_from"] is None  # a live run is left alone
    assert BillingRun.objects.get(pk=alive.pk).status == "running"


def test_restore_products_restores_each_quota_once_per_period():
    account = factories.account("none", products=2)
    assert run("restore_products")["restored"] == 2
    assert set(Product.objects.filter(account=account).values_list("used", flat=True)) == {0}
    Product.objects.filter(account=account).update(used=7)  # used during the period
    assert run("restore_products") | {"run": 0} == {
        "command": "restore_products", "period": "2026-12", "dry_run": False, "run": 0, "resumed_from": None,
        "restored": 0, "already_done": 2, "waiting_for_dispatch": 0,
    }  # fmt: skip
    assert set(Product.objects.values_list("used", flat=True)) == {7}
    assert run("restore_products", "--period", "2027-01")["restored"] == 2


def test_reset_products_waits_for_the_dispatch_that_bills_the_extras_then_resets_once():
    account = factories.account("none")
    Product.objects.filter(account=account).update(extra_steps=200)
    run("create_invoices")
    summary = run("reset_products")
    assert (summary["reset"], summary["waiting_for_dispatch"]) == (0, 1)
    with factories.in_period():
        run("dispatch_invoices")
    assert run("reset_products", "--dry-run")["would_reset"] == 1
    assert run("reset_products")["reset"] == 1
    product = Product.objects.get(account=account)
    assert (product.extra_steps, product.capacity) == (0, 100)
    Product.objects.filter(pk=product.pk).update(extra_steps=50)  # bought again this period
    assert run("reset_products")["reset"] == 0 and Product.objects.get(pk=product.pk).extra_steps == 50
    assert ProductPeriodMark.objects.filter(kind="reset").count() == 1


def test_audit_invoices_finds_a_state_that_is_not_the_chains_and_totals_that_are_not_the_lines():
    factories.account("none", lms_user_id=1)
    factories.account("none", lms_user_id=2)
    run("create_invoices")
    with factories.in_period():
        run("dispatch_invoices")
    first, second = Invoice.objects.order_by("pk")
    Invoice.objects.filter(pk=first.pk).update(state="paid")  # behind the transition function's back
    Invoice.objects.filter(pk=second.pk).update(total=Decimal("1.00"))
    with pytest.raises(CommandError, match="2 invoice"):
        call_command("audit_invoices")
    report = billing_audit()
    assert {p["invoice"] for p in report["problems"]} == {first.number, second.number}


def billing_audit():
    from commerce_coordinator.apps.invoicing.audit import audit

    return audit()


def test_provision_demo_billing_is_idempotent(capsys):
    call_command("provision_demo_billing")
    out = capsys.readouterr().out
    assert "LMS user 9001" in out and "LMS user 9004 (no saved payment method)" in out
    call_command("provision_demo_billing")
    assert "already present" in capsys.readouterr().out
    assert Product.objects.filter(extra_steps__gt=0).count() == 4


def test_the_clock_moves():
    start = clock.now()
    clock.move(days=3)
    assert (clock.now() - start).days == 3


def test_a_page_whose_bulk_write_fails_is_finalized_one_invoice_at_a_time(monkeypatch):
    from django.db import IntegrityError

    accounts = [factories.account("none", lms_user_id=n) for n in range(3)]
    run("create_invoices")
    from commerce_coordinator.apps.invoicing import billing

    real_page, real_one = billing.insert_rows, InvoiceLine.objects.bulk_create
    calls = []

    def fail_page(model, fixed, rows, *args, **kwargs):  # the page's one INSERT of lines
        if model is not InvoiceLine:
            return real_page(model, fixed, rows, *args, **kwargs)
        calls.append(len(rows))
        raise IntegrityError("a bulk insert refused")

    def one(objs, *args, **kwargs):  # an invoice finalized on its own
        calls.append(len(objs))
        return real_one(objs, *args, **kwargs)

    monkeypatch.setattr(billing, "insert_rows", fail_page)
    monkeypatch.setattr(InvoiceLine.objects, "bulk_create", one)
    with factories.in_period():
        summary = run("dispatch_invoices", "--no-charge")
    assert (summary["dispatched"], summary["errors"], summary["skipped"]) == (3, 0, 0)
    assert calls == [3, 1, 1, 1]  # the page's one INSERT failed, then one per invoice
    assert {i.state for i in Invoice.objects.filter(account__in=accounts)} == {"open"}
    assert json.loads(call_command("audit_invoices", "--json"))["problems"] == []
    assert summary["charges"] == 0 and not InvoiceEvent.objects.filter(action="charge_failed").exists()


def test_a_terminal_gets_a_progress_bar_and_a_readable_summary(monkeypatch, capsys):
    import sys

    factories.account("none")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    call_command("create_invoices", "--period", "2026-12")
    out = capsys.readouterr().out
    assert "created=1" in out and "already_present=0" in out


def test_beat_runs_each_billing_job_daily_and_each_task_runs_its_command():
    from celery import current_app
    from django.conf import settings

    from commerce_coordinator.apps.invoicing import tasks

    current_app.loader.import_default_modules()
    scheduled = {entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if name.startswith("invoicing")}
    assert scheduled == {f"invoicing.{job}" for job in settings.INVOICING_BEAT_TIMES}
    assert scheduled <= set(current_app.tasks)
    factories.account("none")
    with factories.in_period():
        assert json.loads(tasks.create_invoices())["created"] == 1  # the next period's
        assert json.loads(tasks.restore_products())["restored"] == 1
        assert json.loads(tasks.dispatch_invoices())["dispatched"] == 0
        assert json.loads(tasks.reset_products())["reset"] == 0
        assert tasks.evaluate_dunning() == {"evaluated": 0, "entered": 0}
