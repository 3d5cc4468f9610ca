"""Durable work items and core's retry policy (apps/core: durable.py, retries.py; ADR 0011)."""

import os


def seconds_list(name: str, default: str) -> list[float]:
    """A comma-separated list of seconds from the environment (a retry schedule)."""
    return [float(s) for s in os.environ.get(name, default).split(",") if s.strip()]


# The default delays (seconds) before each retry of a durable work item; an item class names its own
# schedule setting (e.g. LMS_RETRY_SCHEDULE). Each delay gets +/- CC_RETRY_JITTER of random jitter, and
# a longer Retry-After from the other side wins, capped at CC_RETRY_AFTER_MAX.
CC_RETRY_SCHEDULE = seconds_list("CC_RETRY_SCHEDULE", "30,120,480,1800,3600")
CC_RETRY_JITTER = float(os.environ.get("CC_RETRY_JITTER", "0.25"))
CC_RETRY_AFTER_MAX = float(os.environ.get("CC_RETRY_AFTER_MAX", str(6 * 3600)))
# The generic sweep (core.sweep_durable_work, every CC_DURABLE_SWEEP_INTERVAL seconds) re-enqueues an item
# that is due for more than CC_DURABLE_STALLED_AFTER seconds without having run (a lost publish or message),
# or that has been running for more than CC_DURABLE_RUNNING_TIMEOUT seconds (its worker died and the broker
# did not redeliver). A redelivered task retakes its own item at once, without waiting for the sweep (an item
# run in place by another task's worker, ADR 74, has no message of its own: the sweep takes it back).
CC_DURABLE_STALLED_AFTER = int(os.environ.get("CC_DURABLE_STALLED_AFTER", "120"))
CC_DURABLE_RUNNING_TIMEOUT = int(os.environ.get("CC_DURABLE_RUNNING_TIMEOUT", "900"))
CC_DURABLE_SWEEP_INTERVAL = int(os.environ.get("CC_DURABLE_SWEEP_INTERVAL", "60"))
# Follow-up items that a task's work stores for a batch task routed to that task's own queue (an order's lines
# stored by the webhook's processing, when one queue carries both) run in the same worker after the task's work
# instead of one more trip through the broker (core.follow_ups, ADR 0074). Split queues publish as before.
CC_FOLLOW_UPS_IN_PLACE = os.environ.get("CC_FOLLOW_UPS_IN_PLACE", "1") == "1"
# Past this many seconds since the task started (a slow LMS), the rest of its follow-ups is published as usual;
# a batch of more items than CC_FOLLOW_UPS_IN_PLACE_MAX_ITEMS (an order of many lines) is always published. Keep
# seconds + max items x one item's worst run below the task's time limit (PAYMENTS_TASK_TIME_LIMIT, 300 s): an
# order's line is at worst a token call and an enrollment call, 2 x (LMS_CONNECT_TIMEOUT + LMS_READ_TIMEOUT), so
# 30 + 5 x 26 s = 160 s by default.
CC_FOLLOW_UPS_IN_PLACE_SECONDS = float(os.environ.get("CC_FOLLOW_UPS_IN_PLACE_SECONDS", "30"))
CC_FOLLOW_UPS_IN_PLACE_MAX_ITEMS = int(os.environ.get("CC_FOLLOW_UPS_IN_PLACE_MAX_ITEMS", "5"))
