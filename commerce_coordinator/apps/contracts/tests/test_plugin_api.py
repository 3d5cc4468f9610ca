"""The public plugin API stays public: it imports nothing of contracts, so a backend app importing it
depends on no internal of contracts (import-linter lets backends import this one module only)."""

import ast
from pathlib import Path

import pytest

import commerce_coordinator.apps.contracts.plugins as api
from commerce_coordinator.apps.contracts.plugins import BackendReply, ContractBackend, ContractInfo, ProcessingParam


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_plugin_api_imports_only_the_core_and_the_standard_library():
    modules = imported_modules(Path(api.__file__))
    assert not [m for m in modules if m.startswith(".") or ".apps.contracts" in m]
    assert [m for m in modules if m.startswith("commerce_coordinator")] == ["commerce_coordinator.apps.core.retries"]


def test_the_base_plugin_does_nothing_harmful_by_default():
    plugin = ContractBackend("plain")
    info = ContractInfo(
        id=1, name="n", lms_user_id=1, product="p", package="", backend="plain", state="active", activated=False
    )
    assert [plugin.activate(info), plugin.suspend(info, "admin"), plugin.resume(info), plugin.cancel(info)] == [
        None
    ] * 4
    assert plugin.describe(info) is None and plugin.stat([info]) == {} and plugin.processing_item_type() == "plain"
    assert BackendReply().activated is None


def test_check_connection_by_default_requires_the_required_params():
    class WithParams(ContractBackend):
        processing_params = (ProcessingParam("url", "URL", "URL", required=True), ProcessingParam("x", "X", "X"))

    plugin = WithParams("p")
    plugin.check_connection({"url": "u"})
    with pytest.raises(api.PermanentError, match="url"):
        plugin.check_connection({"x": "1"})
