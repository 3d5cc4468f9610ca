"""Re-queue the failed (dead-lettered) or stuck lines of an order, or of every order with --failed / --stalled."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.core import durable, tracing
from commerce_coordinator.apps.lms.fulfillment import requeue_lines
from commerce_coordinator.apps.lms.models import Order, OrderLine


def operator() -> str:
    """Who runs the command, for the audit rows: the OS user, else "manage.py"."""
    try:
        return getpass.getuser() or "manage.py"
    except (KeyError, OSError):
        return "manage.py"


class Command(BaseCommand):
    help = (
        "Re-queue LMS enrollment (or unenrollment) for the lines of the given orders that are not done, "
        "or for every failed line with --failed, or for every stalled line with --stalled. Each re-queue "
        "writes a core.WorkAudit row (who, why). Prints what it re-queued."
    )

    def add_arguments(self, parser):
        parser.add_argument("order_numbers", nargs="*", metavar="ORDER_NUMBER")
        parser.add_argument("--failed", action="store_true", help="Every failed line of every order.")
        parser.add_argument(
            "--stalled",
            action="store_true",
            help="Every line whose task was lost (due long ago, or running far longer than a run may); "
            "core's periodic sweep (core.sweep_durable_work) does the same.",
        )
        parser.add_argument(
            "--reason",
            default="operator re-queue with manage.py retry_fulfillment",
            help="Why, for the audit row (default: %(default)r).",
        )

    def handle(self, *args, order_numbers, failed, stalled, reason, **options):
        if (bool(order_numbers) + failed + stalled) != 1:
            raise CommandError("Give one or more order numbers, or --failed, or --stalled (one of them).")
        if not reason.strip():
            raise CommandError("--reason must say why.")
        lines = OrderLine.objects.select_related("order")
        if stalled:
            lines = lines.filter(pk__in=OrderLine.stalled().values("pk"))
        elif failed:
            lines = lines.filter(status=durable.WorkStatus.FAILED)
        else:
            found = set(Order.objects.filter(order_number__in=order_numbers).values_list("order_number", flat=True))
            missing = [n for n in order_numbers if n not in found]
            if missing:
                raise CommandError(f"No such order: {', '.join(missing)}")
            lines = lines.filter(order__order_number__in=order_numbers)
        actor = operator()
        # The re-queued tasks' runs hang under this node of a new trace.
        with tracing.span("command", "retry_fulfillment", actor) as node:
            done = requeue_lines(list(lines), actor, reason)
            if node is not None:
                node.result = f"{len(done)} line(s) looked at"
            trace_id = tracing.current_trace_id()
        requeued = 0
        for line, what in done:
            if what.startswith("re-queued"):
                requeued += 1
            self.stdout.write(f"{line.order.order_number} {line.course_run_key}: {what}")
        self.stdout.write(self.style.SUCCESS(f"Re-queued {requeued} line(s) (trace {trace_id})."))
