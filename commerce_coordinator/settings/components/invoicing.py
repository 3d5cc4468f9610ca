"""Settings of apps/invoicing: payment terms, charge retry days, the dunning ladder, batch sizes."""

import os

from .durable import seconds_list

# Days after finalize that an invoice is due (0: due at once; it is charged at finalize).
INVOICING_PAYMENT_TERMS_DAYS = int(os.environ.get("INVOICING_PAYMENT_TERMS_DAYS", "0"))
# After a soft decline (or a charge that errored), the next attempt runs this many days after the
# invoice was finalized; one entry per retry. A hard decline stops at once (docs/invoicing.md).
INVOICING_RETRY_DAYS = [float(d) for d in os.environ.get("INVOICING_RETRY_DAYS", "1,3,5,7").split(",") if d]
# The overdue ladder (Kill Bill's overdue idea): each level is entered when the earliest unpaid invoice is
# `days` past due. Entering one sends account_overdue; the last level (`uncollectible`: True) is the end:
# the invoices that reached it become uncollectible. Paying everything sends account_cleared.
INVOICING_DUNNING_LADDER = [
    {"level": "warning", "days": 10},
    {"level": "blocked", "days": 14},
    {"level": "cancellation", "days": 21, "uncollectible": True},
]
# Seconds before each retry of a notice (invoice_sent, credit_card_error, account_overdue, account_cleared)
# or a dunning evaluation whose receivers failed with a retryable error (core's policy); then a dead letter.
INVOICING_NOTICE_RETRY_SCHEDULE = seconds_list("INVOICING_NOTICE_RETRY_SCHEDULE", "30,120,600,3600")
# Invoices handled per database round trip by the commands (bulk inserts, prefetches).
INVOICING_BATCH_SIZE = int(os.environ.get("INVOICING_BATCH_SIZE", "500"))
# A running BillingRun whose heartbeat is older than this is taken as killed and resumed by the next run.
INVOICING_RUN_STALE_AFTER = int(os.environ.get("INVOICING_RUN_STALE_AFTER", "300"))
INVOICING_EMAIL_FROM = os.environ.get("INVOICING_EMAIL_FROM", "billing@commerce-coordinator.invalid")
# Invoice numbers: <prefix>-<YYYYMM>-<invoice id>.
INVOICING_NUMBER_PREFIX = os.environ.get("INVOICING_NUMBER_PREFIX", "INV")
# Celery beat: (hour, minute) UTC each day of each billing job (CELERY_BEAT_SCHEDULE in base.py).
INVOICING_BEAT_TIMES = {
    "restore_products": (0, 5),
    "dispatch_invoices": (0, 15),
    "reset_products": (1, 0),
    "create_invoices": (1, 15),
    "evaluate_dunning": (2, 0),
}
