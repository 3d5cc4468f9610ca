"""Settings of apps/contracts: the backend-plugin registry, describe's timeout and backend-call retries."""

import os

from .durable import seconds_list

# --- Contracts (apps/contracts) -------------------------------------------------
# Backend name -> dotted path of its plugin class (a contracts.plugins.ContractBackend), or None for a
# backend that has no plugin: its contracts live on the core's information alone (ADR 0040).
CC_CONTRACT_BACKENDS: dict[str, str | None] = {
    "smt": "commerce_coordinator.apps.backends.smt.plugin.SmtBackend",
    "telmex": "commerce_coordinator.apps.backends.telmex.plugin.TelmexBackend",
    "net": None,
}
# Seconds a plugin's describe() may take before the contract is shown with the bare backend name.
CONTRACTS_DESCRIBE_TIMEOUT = float(os.environ.get("CONTRACTS_DESCRIBE_TIMEOUT", "0.5"))
# Delays (seconds) before each retry of a backend call (activate, suspend, resume, cancel).
CONTRACTS_BACKEND_RETRY_SCHEDULE = seconds_list("CONTRACTS_BACKEND_RETRY_SCHEDULE", "10,60,300,1800,3600")
# Dunning levels of account_overdue (invoicing) at which an account's contracts are suspended (reason overdue).
CONTRACTS_SUSPEND_AT_LEVELS = ["blocked"]
