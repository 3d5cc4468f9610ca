"""The Telmex plugin only logs what it is asked, and has no description of its own."""

import logging

from commerce_coordinator.apps.backends.telmex.plugin import TelmexBackend
from commerce_coordinator.apps.contracts.plugins import ContractInfo

CONTRACT = ContractInfo(
    id=5, name="Contract_2", lms_user_id=7, product="p", package="", backend="telmex", state="active", activated=False
)


def test_telmex_logs_each_action_and_changes_nothing(caplog):
    plugin = TelmexBackend("telmex")
    with caplog.at_level(logging.INFO, logger="commerce_coordinator.apps.backends"):
        replies = [
            plugin.activate(CONTRACT),
            plugin.suspend(CONTRACT, "overdue"),
            plugin.resume(CONTRACT),
            plugin.cancel(CONTRACT),
        ]
    assert replies == [None] * 4 and plugin.describe(CONTRACT) is None
    assert caplog.messages == [
        "TELMEX handles Contract_2 creation",
        "TELMEX handles Contract_2 suspension (overdue)",
        "TELMEX handles Contract_2 resumption",
        "TELMEX handles Contract_2 cancel",
    ]
