"""Celery tasks that CC_SIGNALS names as receivers."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def demo_celery_receiver(sender, message, **kwargs):
    """A task receiver: it runs in a worker (or in process without a broker) and joins the sender's trace."""
    logger.info("demo_celery_receiver called by %s with message=%r", sender, message)
    return f"task received {message!r}"
