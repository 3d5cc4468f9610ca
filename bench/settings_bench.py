"""Settings for bench/dispatch: the project's base settings, with the bench's OWN databases.

The engine comes from CC_BENCH_DB (sqlite | mysql). SQLite files live in
CC_BENCH_DIR (a temp dir made by bench/dispatch); MariaDB databases are
cc_bench / cc_bench_traces (host, port, user, password from DB_HOST, DB_PORT,
DB_USER, DB_PASSWORD as in base.py). Dev and test databases are never used.
"""

import os

from commerce_coordinator.settings.base import *  # noqa: F403
from commerce_coordinator.settings.base import database_settings

ENGINE = os.environ.get("CC_BENCH_DB", "sqlite")
if ENGINE not in ("sqlite", "mysql"):
    raise RuntimeError(f"CC_BENCH_DB must be sqlite or mysql, not {ENGINE!r}")

if ENGINE == "sqlite":
    _dir = os.environ["CC_BENCH_DIR"]  # bench/dispatch always sets it (a fresh temp dir)
    _names = {
        "default": os.path.join(_dir, "cc_bench.sqlite3"),
        "traces": os.path.join(_dir, "cc_bench_traces.sqlite3"),
    }
else:
    _names = {"default": "cc_bench", "traces": "cc_bench_traces"}

# Reuse base.database_settings so the bench runs on the production connection options.
os.environ["DB_ENGINE"] = ENGINE
os.environ["CC_BENCH_DEFAULT_NAME"] = _names["default"]
os.environ["CC_BENCH_TRACES_NAME"] = _names["traces"]
DATABASES = {
    "default": database_settings("CC_BENCH_DEFAULT_NAME", "cc_bench"),
    "traces": database_settings("CC_BENCH_TRACES_NAME", "cc_bench_traces"),
}
for _alias, _db in DATABASES.items():
    if "cc_bench" not in os.path.basename(str(_db["NAME"])):
        raise RuntimeError(f"refusing to benchmark on a database not named cc_bench*: {_db['NAME']}")

DEBUG = False
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True

CC_TRACE_DATABASE = "traces"
CC_TRACE_SAMPLE_RATE = 0.0  # each scenario of bench/dispatch sets its own rate
CC_SIGNALS = {
    "bench_signals.order_placed": [
        "bench_signals.reserve_seats",
        "bench_signals.record_order",
        "bench_signals.notify_learner",
    ],
}
CC_WAFFLE_SWITCHES: dict = {}

# Quiet: only errors (e.g. a trace that could not be stored) reach stderr.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}

# This bench charges no saved payment method: no provider credentials needed (payments.E004/E005).
PAYMENTS_CHARGE_PROVIDERS = []
