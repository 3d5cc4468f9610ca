"""Re-queue the failed (dead-lettered) or stuck lines of an order, or of every order with --failed."""

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.lms.fulfillment import requeue_lines, stalled_lines
from commerce_coordinator.apps.lms.models import Order, OrderLine


class Command(BaseCommand):
    help = (
        "Re-queue LMS enrollment (or unenrollment) for the failed and pending lines of the given orders, "
        "or for every failed line with --failed, or for every stalled line with --stalled. Prints what it re-queued."
    )

    def add_arguments(self, parser):
        parser.add_argument("order_numbers", nargs="*", metavar="ORDER_NUMBER")
        parser.add_argument("--failed", action="store_true", help="Every failed line of every order.")
        parser.add_argument(
            "--stalled",
            action="store_true",
            help="Every line whose task was lost (due long ago, or claimed by a run that never finished); "
            "the periodic lms.sweep_stalled_lines task does the same.",
        )

    def handle(self, *args, order_numbers, failed, stalled, **options):
        if (bool(order_numbers) + failed + stalled) != 1:
            raise CommandError("Give one or more order numbers, or --failed, or --stalled (one of them).")
        if stalled:
            lines = list(stalled_lines().select_related("order"))
        elif failed:
            lines = list(OrderLine.objects.filter(status__in=list(OrderLine.RETRYABLE)).select_related("order"))
        else:
            found = set(Order.objects.filter(order_number__in=order_numbers).values_list("order_number", flat=True))
            missing = [n for n in order_numbers if n not in found]
            if missing:
                raise CommandError(f"No such order: {', '.join(missing)}")
            lines = list(OrderLine.objects.filter(order__order_number__in=order_numbers).select_related("order"))
        with tracing.trace() as ctx:
            node = None
            if ctx.sampled:  # the re-queued tasks' runs hang under this node of a new trace
                node = ctx.open_node("command", "retry_fulfillment", "manage.py")
                ctx.parent_id = node.id
            done = requeue_lines(lines)
            if node is not None:
                node.result = f"{len(done)} line(s) looked at"
                node.finish("ok")
            trace_id = ctx.trace_id
        requeued = 0
        for line, what in done:
            if what.startswith("re-queued"):
                requeued += 1
            self.stdout.write(f"{line.order.order_number} {line.course_run_key}: {what}")
        self.stdout.write(self.style.SUCCESS(f"Re-queued {requeued} line(s) (trace {trace_id})."))
