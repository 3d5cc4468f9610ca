"""Settings of apps/payments' refunds of invoice payments (payments/refunds.py); the providers' API bases,
keys and timeouts are the charges' (payments_charges.py)."""

from .durable import seconds_list

# Seconds before each retry of a refund call that failed on the network, a timeout, a 5xx or a 429 (core's retry
# policy, with jitter, the same idempotency key each time); then the refund is dead-lettered (refund_failed).
PAYMENTS_REFUND_RETRY_SCHEDULE = seconds_list("PAYMENTS_REFUND_RETRY_SCHEDULE", "30,120,600,1800")
