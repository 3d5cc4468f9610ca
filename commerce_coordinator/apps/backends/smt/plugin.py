"""The SMT backend plugin: SMT activates a contract when it is opened and deactivates it when it is closed,
and describes its contracts (ADR 0040)."""

from commerce_coordinator.apps.contracts.plugins import BackendReply, ContractBackend, ContractInfo, ProcessingParam

from .clients import tell_smt


class SmtBackend(ContractBackend):
    item_type = "smt"
    title_en = "SMT"
    title_ru = "SMT"
    processing_params = (
        ProcessingParam("api_url", "API URL", "URL API", required=True, check="url"),
        ProcessingParam("api_token", "API token", "Токен API", secret=True, required=True),
    )

    def activate(self, contract: ContractInfo) -> BackendReply:
        tell_smt("creation", contract.name)
        return BackendReply(activated=True)

    def cancel(self, contract: ContractInfo) -> BackendReply:
        tell_smt("cancel", contract.name)
        return BackendReply(activated=False)

    def describe(self, contract: ContractInfo) -> dict:
        return {"name": self.name, "contract": contract.name}

    def stat(self, contracts: list[ContractInfo]) -> dict[int, dict[str, str]]:
        return {c.id: {"state": c.state, "activated": "yes" if c.activated else "no"} for c in contracts}
