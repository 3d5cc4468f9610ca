"""Settings of apps/core's guards: the bounded /health/ probes and the Basic-auth failure throttle."""

import os

# --- /health/ (docs/decisions/0020) --------------------------------------------
# Each probe (database, cache, broker) gives up after this many seconds; all run in parallel and
# the answer is sent at the latest after CC_HEALTH_DEADLINE.
CC_HEALTH_PROBE_TIMEOUT = float(os.environ.get("CC_HEALTH_PROBE_TIMEOUT", "1"))
CC_HEALTH_DEADLINE = float(os.environ.get("CC_HEALTH_DEADLINE", "2"))

# --- Basic-auth failure throttle (docs/decisions/0021) -----------------------------
# After this many failed Basic authentications from one client address, or for one username, within
# the window (seconds, from the first failure), Basic auth answers 429 without checking a password.
CC_AUTH_FAILURE_LIMIT = int(os.environ.get("CC_AUTH_FAILURE_LIMIT", "10"))
CC_AUTH_FAILURE_WINDOW = int(os.environ.get("CC_AUTH_FAILURE_WINDOW", "300"))
