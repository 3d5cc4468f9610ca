"""manage.py retry_contract_calls: re-queue dead-lettered backend calls (manual tasks), with an audit row each."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.contracts import operations


class Command(BaseCommand):
    help = "Retry the manual tasks (dead-lettered backend calls) of a contract, by id, or all of them."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--contract", type=int, help="the manual tasks of this contract")
        which.add_argument("--call", type=int, help="this backend call")
        which.add_argument("--all", action="store_true", help="every manual task")
        parser.add_argument("--reason", required=True, help="what was fixed (kept in the audit)")
        parser.add_argument("--actor", default=f"cli:{getpass.getuser()}")

    def handle(self, *args, **options):
        tasks = operations.manual_tasks()
        if options["contract"] is not None:
            tasks = tasks.filter(contract_id=options["contract"])
        elif options["call"] is not None:
            tasks = tasks.filter(pk=options["call"])
        tasks = list(tasks)
        if not tasks:
            raise CommandError("No manual task matches (only dead-lettered backend calls can be retried).")
        for task in tasks:
            audit = operations.retry_manual_task(task.pk, actor=options["actor"], reason=options["reason"])
            self.stdout.write(f"re-queued {task} (audit {audit.pk}, trace {audit.trace_id or '-'})")
