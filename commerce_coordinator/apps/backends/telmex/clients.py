"""The Telmex system, as this demo backend reaches it: in process, a log line per request."""

import logging

logger = logging.getLogger(__name__)


def tell_telmex(what: str, contract_name: str) -> None:
    logger.info("TELMEX handles %s %s", contract_name, what)
