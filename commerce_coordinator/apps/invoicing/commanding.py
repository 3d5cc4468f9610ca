"""What the four billing commands share: options, the run record, the progress bar and the summary."""

from __future__ import annotations

import contextlib
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.core import tracing

from . import billing, clock


class BillingCommand(BaseCommand):
    """--dry-run --account --period --limit --json; a progress bar on a terminal; a one-object summary."""

    name = ""
    default_period = "current"  # or "next"
    records_run = True
    traced_as_one = True

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; change nothing.")
        parser.add_argument("--account", type=int, action="append", default=[], help="Only this account id (repeat).")
        parser.add_argument("--period", help=f"YYYY-MM (default: the {self.default_period} period).")
        parser.add_argument("--limit", type=int, help="Handle at most this many accounts/invoices/products.")
        parser.add_argument("--json", action="store_true", help="Print a one-object JSON summary.")

    def scope(self, options) -> billing.Scope:
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            period = clock.parse_period(options["period"]) if options["period"] else None
        except ValueError as exc:
            raise CommandError(str(exc))
        if period is None and self.default_period == "next":
            period = clock.next_period(clock.period_of(clock.today())[0])
        elif period is None and self.name != "dispatch_invoices":
            period = clock.period_of(clock.today())[0]
        return billing.Scope(period, options["account"], options["limit"], options["dry_run"], f"command:{self.name}")

    def work(self, scope: billing.Scope, run, progress) -> dict:
        raise NotImplementedError

    def total(self, scope: billing.Scope) -> int | None:
        return None

    def handle(self, *args, **options):
        scope = self.scope(options)
        # A command that handles items one by one (dispatch) traces each item on its own instead.
        with tracing.span("command", f"manage.py {self.name}") if self.traced_as_one else contextlib.nullcontext():
            run = billing.start_run(self.name, scope) if self.records_run else None
            with self.progress_bar(scope, quiet=options["json"]) as progress:
                summary = self.work(scope, run, progress)
            if run is not None and run.status == run.Status.RUNNING:
                billing.finish_run(run, {k: v for k, v in summary.items() if isinstance(v, int)},
                                   summary.get("error_accounts", {}))  # fmt: skip
        summary = {
            "command": self.name,
            "period": f"{scope.period_start:%Y-%m}" if scope.period_start else "due",
            "dry_run": scope.dry_run,
            "run": run.pk if run is not None else None,
            "resumed_from": run.resumed_from_id if run is not None else None,
            **summary,
        }
        if options["json"]:
            return json.dumps(summary, default=str)
        self.stdout.write(", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, dict)))
        for account, error in summary.get("error_accounts", {}).items():
            self.stderr.write(f"account {account}: {error}")
        return ""

    @contextlib.contextmanager
    def progress_bar(self, scope, quiet: bool):
        if quiet or not sys.stdout.isatty():
            yield lambda n: None
            return
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(self.name, total=self.total(scope))
            yield lambda n: bar.advance(task, n)
