"""Sending invoicing's signals once the transaction that decided them commits, traced with their keys."""

from functools import partial

from django.db import transaction

from commerce_coordinator.apps.core import tracing


def send_on_commit(signal, name: str, keys: dict, **arguments) -> None:
    """Send `signal` after the surrounding transaction commits (never for a rolled-back decision)."""
    transaction.on_commit(partial(_send, signal, name, keys, arguments), robust=True)


def _send(signal, name: str, keys: dict, arguments: dict) -> None:
    with tracing.span("work", f"invoicing.{name}", **{k: v for k, v in keys.items() if v not in (None, "")}):
        signal.send("invoicing", **arguments)


def invoice_keys(invoice) -> dict:
    return {"invoice_number": invoice.number or "", "account_id": invoice.account_id}
