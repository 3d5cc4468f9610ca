"""Celery tasks of the invoicing app: the billing jobs on Celery beat (CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task
from django.core.management import call_command

from commerce_coordinator.apps.core import durable, tracing

from . import dunning, notify


def _run(command: str) -> str:
    return call_command(command, "--json")  # each command traces itself (dispatch: one trace per invoice)


@shared_task(name="invoicing.create_invoices")
def create_invoices():
    return _run("create_invoices")


@shared_task(name="invoicing.dispatch_invoices")
def dispatch_invoices():
    return _run("dispatch_invoices")


@shared_task(name="invoicing.restore_products")
def restore_products():
    return _run("restore_products")


@shared_task(name="invoicing.reset_products")
def reset_products():
    return _run("reset_products")


@shared_task(name="invoicing.evaluate_dunning")
def evaluate_dunning():
    """Daily: the ladder moves with the calendar even when no payment outcome arrives."""
    with tracing.span("command", "beat evaluate_dunning"):
        return dunning.evaluate_all()


# max_retries=None: INVOICING_NOTICE_RETRY_SCHEDULE (core's policy) decides when to stop, not Celery's 3.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, name="invoicing.send_notice")
def send_notice(self, notice_pk: int):
    """A notice the process that stored it did not send (it died, or a receiver asked for a retry)."""
    from .models import Notice

    return durable.run(Notice, notice_pk, self, notify.send)
