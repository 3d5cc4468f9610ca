"""Settings of apps/payments: providers, webhook secrets, retries, sweep and the publish relay."""

import os

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
PAYMENTS_MAX_RETRIES = int(os.environ.get("PAYMENTS_MAX_RETRIES", "8"))  # retryable receiver errors
PAYMENTS_RETRY_BACKOFF = 2  # seconds, doubled each retry (Celery retry_backoff), with jitter
PAYMENTS_RETRY_BACKOFF_MAX = 600  # seconds
PAYMENTS_TASK_TIME_LIMIT = 300  # seconds: a processing task is killed after this
PAYMENTS_PROCESSING_TIMEOUT = 900  # seconds in "processing" after which its worker is presumed gone
PAYMENTS_SWEEP_AFTER = int(os.environ.get("PAYMENTS_SWEEP_AFTER", "300"))  # seconds in "received" before a sweep
PAYMENTS_SWEEP_INTERVAL = int(os.environ.get("PAYMENTS_SWEEP_INTERVAL", "60"))  # seconds between sweeps
PAYMENTS_REFUND_WAIT_ATTEMPTS = 10  # a refund waits this many attempts for its payment, then fails
# With a broker, stored events are published by a per-process relay thread: one task per batch (payments/relay.py).
PAYMENTS_RELAY = os.environ.get("PAYMENTS_RELAY", "1") != "0"  # off: one task per event, published after the answer
PAYMENTS_RELAY_WINDOW = float(os.environ.get("PAYMENTS_RELAY_WINDOW", "0.05"))  # seconds the relay waits for more
PAYMENTS_RELAY_MAX_BATCH = 100  # events per published task at most
