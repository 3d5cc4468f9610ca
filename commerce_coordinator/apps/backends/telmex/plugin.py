"""The Telmex backend plugin: it only logs what it is asked to do, and keeps no representation of its own."""

from commerce_coordinator.apps.contracts.plugins import ContractBackend, ContractInfo, ProcessingParam

from .clients import tell_telmex


class TelmexBackend(ContractBackend):
    item_type = "telmex"
    title_en = "Telmex"
    title_ru = "Телмекс"
    processing_params = (
        ProcessingParam("login", "Login", "Логин", required=True),
        ProcessingParam("password", "Password", "Пароль", secret=True, required=True),
    )

    def activate(self, contract: ContractInfo) -> None:
        tell_telmex("creation", contract.name)

    def suspend(self, contract: ContractInfo, reason: str) -> None:
        tell_telmex(f"suspension ({reason})", contract.name)

    def resume(self, contract: ContractInfo) -> None:
        tell_telmex("resumption", contract.name)

    def cancel(self, contract: ContractInfo) -> None:
        tell_telmex("cancel", contract.name)
