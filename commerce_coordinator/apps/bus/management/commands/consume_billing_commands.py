"""manage.py consume_billing_commands: carry out admin-panel commands from the RabbitMQ bus (docs/bus.md)."""

import signal

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.core.checks import refuse_to_start_on_errors

from ...consumer import CommandConsumer
from ...topology import connection, topology


class Command(BaseCommand):
    help = (
        "Consume command messages (issue_invoice, cancel_invoice, subscribe, refund, ...) from the bus queue; "
        "each becomes the coordinator signal CC_BUS_COMMANDS names. Runs until stopped (SIGTERM/Ctrl-C "
        "finish the current batch), or as a one-shot with --max-messages / --idle-timeout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-messages", type=int, default=None, help="Stop after handling N messages.")
        parser.add_argument(
            "--idle-timeout", type=float, default=None, help="Stop when no message arrived for S seconds."
        )
        parser.add_argument("--queue", default=None, help="Consume this queue instead of CC_BUS_QUEUE.")
        parser.add_argument("--connection-name", default="", help="The connection's name shown by RabbitMQ.")

    def handle(self, *args, max_messages=None, idle_timeout=None, queue=None, connection_name="", **options):
        if max_messages is not None and max_messages < 1:
            raise CommandError("--max-messages must be 1 or more")
        if idle_timeout is not None and idle_timeout <= 0:
            raise CommandError("--idle-timeout must be more than 0")
        refuse_to_start_on_errors()
        bus_topology = topology(queue)
        with connection(connection_name, confirm_publish=True) as conn:
            consumer = CommandConsumer(conn, bus_topology, max_messages, idle_timeout)
            stop = lambda *_: setattr(consumer, "should_stop", True)  # noqa: E731
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            self.stdout.write(f"Consuming {bus_topology.queue.name} on {conn.as_uri()}")
            try:
                consumer.run()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        counts = ", ".join(f"{consumer.counts[k]} {k}" for k in ("processed", "duplicate", "retried", "dead_lettered"))
        requeued = consumer.counts["requeued"]  # not handled: they went back to the queue, and came back
        self.stdout.write(
            f"Handled {consumer.handled} message(s): {counts}. Requeued {requeued} (rolled-back batches)."
        )
