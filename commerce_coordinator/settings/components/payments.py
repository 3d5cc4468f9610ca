"""Settings of apps/payments: providers, webhook secrets, retries, its queue, retention and the publish relay."""

import os

from .durable import seconds_list

# --- Payments webhooks (apps/payments) ------------------------------------------
# Provider key -> plugin class; the key is the URL segment: POST /payments/webhooks/<key>/[<kind>/].
CC_PAYMENT_PROVIDERS = {
    "stripe": "commerce_coordinator.apps.payments.providers.stripe.StripeProvider",
    "cloudpayments": "commerce_coordinator.apps.payments.providers.cloudpayments.CloudPaymentsProvider",
}
# Several secrets are accepted at once during a rotation: STRIPE_WEBHOOK_SECRETS is comma-separated.
STRIPE_WEBHOOK_SECRETS = [
    s.strip()
    for s in (os.environ.get("STRIPE_WEBHOOK_SECRETS", "") + "," + os.environ.get("STRIPE_WEBHOOK_SECRET", "")).split(
        ","
    )
    if s.strip()
]
STRIPE_WEBHOOK_TOLERANCE = int(os.environ.get("STRIPE_WEBHOOK_TOLERANCE", "300"))  # seconds
CLOUDPAYMENTS_API_SECRETS = [
    s.strip()
    for s in (
        os.environ.get("CLOUDPAYMENTS_API_SECRETS", "") + "," + os.environ.get("CLOUDPAYMENTS_API_SECRET", "")
    ).split(",")
    if s.strip()
]
PAYMENTS_WEBHOOK_MAX_BODY = 1024 * 1024  # bytes; larger bodies get 413


# A webhook event is a core durable work item (ADR 0015): a retryable failure (core.retries: network errors,
# timeouts, 5xx, 429, `retryable` exceptions) is retried after each of these delays in seconds (+/- CC_RETRY_JITTER),
# then dead-lettered. A refund that arrives before its payment waits on the same schedule (and is woken at once
# when its payment is processed). Replaces PAYMENTS_MAX_RETRIES / PAYMENTS_RETRY_BACKOFF(_MAX) /
# PAYMENTS_REFUND_WAIT_ATTEMPTS.
PAYMENTS_RETRY_SCHEDULE = seconds_list("PAYMENTS_RETRY_SCHEDULE", "2,4,8,16,32,64,128,256,512")
# Seconds after which a processing task is killed; it must stay below CC_DURABLE_RUNNING_TIMEOUT (check payments.E003),
# the age at which core's sweep takes a running event back from a worker that is gone. A redelivered task of a killed
# worker retakes its event at once (core's claim rule), so that timeout only matters when the message is lost too.
# (Replaces PAYMENTS_PROCESSING_TIMEOUT; PAYMENTS_SWEEP_AFTER / PAYMENTS_SWEEP_INTERVAL are CC_DURABLE_STALLED_AFTER
# and CC_DURABLE_SWEEP_INTERVAL now: one sweep for every durable item.)
PAYMENTS_TASK_TIME_LIMIT = int(os.environ.get("PAYMENTS_TASK_TIME_LIMIT", "300"))
# The Celery queue of webhook processing (CELERY_TASK_ROUTES in celery_settings.py): webhooks never wait behind
# fulfillment. Run a worker for it: `celery -A commerce_coordinator worker -Q payments` (README).
PAYMENTS_CELERY_QUEUE = os.environ.get("PAYMENTS_CELERY_QUEUE", "payments")
# Past this many course runs an event is acknowledged and stored as unroutable, with the reason (issue 9).
PAYMENTS_MAX_COURSE_RUNS_PER_EVENT = int(os.environ.get("PAYMENTS_MAX_COURSE_RUNS_PER_EVENT", "100"))
# Finished webhook events (payloads with e-mails) older than this are deleted by `manage.py prune_webhook_events`
# and the daily beat task payments-prune-webhook-events.
PAYMENTS_EVENT_RETENTION_DAYS = int(os.environ.get("PAYMENTS_EVENT_RETENTION_DAYS", "90"))
# With a broker, stored events are published by a per-process relay thread: one task per batch (payments/relay.py).
# Group commit (ADR 70): an event that finds the relay idle is published at once; those arriving during a publish,
# or, while events come less than a quarter window apart, within PAYMENTS_RELAY_WINDOW seconds of the last publish,
# go together in the next message (0: pure group commit). A sparse stream is published event by event, at once.
PAYMENTS_RELAY_WINDOW = float(os.environ.get("PAYMENTS_RELAY_WINDOW", "0.05"))
PAYMENTS_RELAY_MAX_BATCH = int(os.environ.get("PAYMENTS_RELAY_MAX_BATCH", "100"))  # events per published task at most

# The payments tasks' queue (merged into CELERY_TASK_ROUTES by celery_settings.py).
PAYMENTS_TASK_ROUTES = {
    "commerce_coordinator.apps.payments.tasks.process_webhook_event": {"queue": PAYMENTS_CELERY_QUEUE},
    "commerce_coordinator.apps.payments.tasks.process_webhook_events": {"queue": PAYMENTS_CELERY_QUEUE},
}
