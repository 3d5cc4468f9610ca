"""Signal traces (apps/core): the trace database, sampling and retention."""

import os

# --- Signal traces -----------------------------------------------------------
CC_TRACE_DATABASE = "traces"
CC_TRACE_SAMPLE_RATE = float(os.environ.get("CC_TRACE_SAMPLE_RATE", "1.0"))
CC_TRACE_RETENTION_DAYS = int(os.environ.get("CC_TRACE_RETENTION_DAYS", "14"))
