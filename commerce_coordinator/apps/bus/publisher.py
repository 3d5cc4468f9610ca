"""Publishing a command onto the bus (what the admin panel does; operators use `manage.py publish_billing_command`)."""

from __future__ import annotations

import uuid

from . import messages
from .topology import connection, topology


def publish_command(
    command: str, arguments: dict, message_id: str | None = None, queue: str | None = None, conn=None
) -> str:
    """Check the command against its signal, publish it persistently with a broker confirm; returns its message_id.

    Raises messages.RejectedMessage when the consumer would dead-letter it (unknown command, bad arguments).
    """
    message_id = message_id or str(uuid.uuid4())
    signal = messages.signal_for(command)
    with_id = {**arguments, "message_id": message_id} if "message_id" in signal.arguments else arguments
    converted = messages.convert_arguments(signal, with_id)
    converted = {name: value for name, value in converted.items() if name in arguments}
    body = messages.encode(command, message_id, converted)
    send_raw(body, queue=queue, conn=conn)
    return message_id


def send_raw(body: bytes, queue: str | None = None, conn=None, headers: dict | None = None) -> None:
    """Publish a body as it is, after declaring the bus's queues (also for tests and benchmarks)."""
    bus = topology(queue)
    own = conn is None
    conn = conn or connection(confirm_publish=True)
    try:
        with conn.Producer() as producer:
            producer.publish(
                body,
                exchange=bus.exchange,
                routing_key=bus.routing_key,
                declare=[bus.queue, bus.retry_queue, bus.dead_letter_queue],
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                headers=headers,
                retry=True,
            )
    finally:
        if own:
            conn.release()
