"""A logging filter that stamps every record with the id of the trace it was written in."""

import logging

from . import tracing


class TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = tracing.current_trace_id() or "-"
        return True
