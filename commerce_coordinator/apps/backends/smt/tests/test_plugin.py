"""The SMT plugin: it activates on open, deactivates on close, describes its contracts and reports usage."""

import logging

from commerce_coordinator.apps.backends.smt.plugin import SmtBackend
from commerce_coordinator.apps.contracts.plugins import ContractInfo

CONTRACT = ContractInfo(
    id=4, name="Contract_1", lms_user_id=7, product="p", package="", backend="smt", state="activating", activated=False
)


def test_smt_activates_and_deactivates_and_says_so_in_its_log(caplog):
    plugin = SmtBackend("smt")
    with caplog.at_level(logging.INFO, logger="commerce_coordinator.apps.backends"):
        assert plugin.activate(CONTRACT).activated is True
        assert plugin.cancel(CONTRACT).activated is False
    assert caplog.messages == ["SMT handles Contract_1 creation", "SMT handles Contract_1 cancel"]


def test_smt_describes_its_contract_and_reports_usage():
    plugin = SmtBackend("smt")
    assert plugin.describe(CONTRACT) == {"name": "smt", "contract": "Contract_1"}
    assert plugin.stat([CONTRACT]) == {4: {"state": "activating", "activated": "no"}}
    assert [(p.name, p.secret) for p in plugin.processing_params] == [("api_url", False), ("api_token", True)]
