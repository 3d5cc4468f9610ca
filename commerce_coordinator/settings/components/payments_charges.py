"""Settings of apps/payments' charges of saved payment methods (payments/charges.py)."""

import os

from .durable import seconds_list

# Seconds before each retry of a charge call that failed on the network, a timeout, a 5xx or a 429
# (core's retry policy, with jitter). A decline is an answer, not an error: it is never retried here.
PAYMENTS_CHARGE_RETRY_SCHEDULE = seconds_list("PAYMENTS_CHARGE_RETRY_SCHEDULE", "30,120,600,1800")
PAYMENTS_CHARGE_CONNECT_TIMEOUT = float(os.environ.get("PAYMENTS_CHARGE_CONNECT_TIMEOUT", "3.05"))
PAYMENTS_CHARGE_READ_TIMEOUT = float(os.environ.get("PAYMENTS_CHARGE_READ_TIMEOUT", "20"))
# The providers this deployment charges saved payment methods through (comma-separated; empty: none). Each
# one's credentials are then required: an empty STRIPE_API_KEY, CLOUDPAYMENTS_PUBLIC_ID or API secret is a
# system check error (payments.E004 / E005), so a production process refuses to start without them.
PAYMENTS_CHARGE_PROVIDERS = [
    p.strip() for p in os.environ.get("PAYMENTS_CHARGE_PROVIDERS", "stripe,cloudpayments").split(",") if p.strip()
]
# Stripe (the `stripe` library; its API base is the demo gateway in local settings).
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
# CloudPayments: HTTP Basic with the site's Public ID and API secret.
CLOUDPAYMENTS_PUBLIC_ID = os.environ.get("CLOUDPAYMENTS_PUBLIC_ID", "")
CLOUDPAYMENTS_API_BASE = os.environ.get("CLOUDPAYMENTS_API_BASE", "https://api.cloudpayments.ru")
# Provider charge calls per second of each worker process (e.g. "100/s", "6000/m"; unset: none), shared by its
# threads: the single attempts' tasks and the chunks' concurrent calls (payments/ratelimit.py, ADR 0035). A
# provider's 429 pauses that process's calls for its Retry-After, and the attempt is retried on the schedule
# above, after its Retry-After when that is longer.
PAYMENTS_CHARGE_RATE_LIMIT = os.environ.get("PAYMENTS_CHARGE_RATE_LIMIT") or None
# A dispatch page's attempts go to the workers in chunks of this many: one task message per chunk, its attempts
# claimed together, their provider calls concurrent and their answers recorded in one transaction (ADR 0035).
# 1: one task per attempt, as before. Larger chunks cost less per attempt (fewer messages, claims, transactions,
# trace writes: bench/invoicing.md) but a chunk's answers wait for its slowest call (at most the read timeout).
PAYMENTS_CHARGE_CHUNK_SIZE = int(os.environ.get("PAYMENTS_CHARGE_CHUNK_SIZE", "50"))
# Threads of a worker process's pool that makes the chunks' provider calls (the calls in flight at once, at most).
PAYMENTS_CHARGE_CALL_THREADS = int(os.environ.get("PAYMENTS_CHARGE_CALL_THREADS", "32"))
