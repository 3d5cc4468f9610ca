"""Sending dead-lettered commands back to the command queue after a fix (an operator's action, audited)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils import timezone

from commerce_coordinator.apps.core.models import WorkAudit

from .consumer import REASON_HEADER
from .topology import connection, topology

OUR_HEADERS = "x-cc-"  # the consumer's bookkeeping headers; a replayed message starts afresh


@dataclass
class DeadLetter:
    message_id: str  # "" when the body has none (not JSON, ...)
    command: str
    reason: str
    replayed: bool = False


def replay_dead_letters(actor: str, reason: str, message_ids=(), limit=None, dry_run=False, queue=None):
    """Move dead letters (all, or those of `message_ids`, at most `limit`) back to the command queue.

    Each is published with a broker confirm before it leaves the dead-letter queue, and writes a
    core.WorkAudit row (who, why). Returns every dead letter looked at, replayed or left where it was.
    """
    bus = topology(queue)
    seen, held = [], []
    with connection("replay_billing_dead_letters", confirm_publish=True) as conn:
        channel = conn.channel()
        bus.declare(channel)
        producer = conn.Producer(channel=conn.channel())
        while limit is None or sum(d.replayed for d in seen) < limit:
            message = channel.basic_get(bus.dead_letter_queue.name, no_ack=False)
            if message is None:
                break
            letter = describe(message)
            seen.append(letter)
            if dry_run or (message_ids and letter.message_id not in message_ids):
                held.append(message.delivery_tag)
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith(OUR_HEADERS)}
            headers["x-cc-replayed-at"] = timezone.now().isoformat()
            producer.publish(
                message.body,
                exchange=bus.exchange,
                routing_key=bus.routing_key,
                headers=headers,
                content_type=message.content_type or "application/json",
                content_encoding=message.content_encoding or "utf-8",
                delivery_mode=2,
            )
            audit(letter, actor, reason)
            channel.basic_ack(message.delivery_tag)
            letter.replayed = True
        for tag in held:  # back into the dead-letter queue, untouched
            channel.basic_reject(tag, requeue=True)
    return seen


def describe(message) -> DeadLetter:
    try:
        data = json.loads(message.body)
    except (TypeError, ValueError):
        data = None
    data = data if isinstance(data, dict) else {}
    text = lambda value: value if isinstance(value, str) else ""  # noqa: E731
    return DeadLetter(
        text(data.get("message_id")), text(data.get("command")), str((message.headers or {}).get(REASON_HEADER, ""))
    )


def audit(letter: DeadLetter, actor: str, reason: str) -> None:
    WorkAudit.objects.create(
        item_type="bus.message",
        item_id=letter.message_id[:64],
        item_label=f"{letter.command or '?'} {letter.message_id or '(no message id)'}"[:255],
        action="replay",
        actor=actor[:150],
        reason=reason,
        outcome=f"back in the command queue; it was dead-lettered for: {letter.reason}",
    )
