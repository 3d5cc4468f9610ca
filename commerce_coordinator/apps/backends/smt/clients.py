"""The SMT system, as this demo backend reaches it: in process (a real one would call SMT's API here)."""

import logging

logger = logging.getLogger(__name__)


def tell_smt(what: str, contract_name: str) -> None:
    """What the demo's SMT system does with a request: it records it in the log."""
    logger.info("SMT handles %s %s", contract_name, what)
