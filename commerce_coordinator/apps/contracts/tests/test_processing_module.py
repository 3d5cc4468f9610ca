"""BILLmanager's processing-module protocol: every reply shape against a golden file, and the exit codes.

Golden files are in tests/golden/; `{id}` in one stands for the contract the test made. To review a change
of shape, run with CC_UPDATE_GOLDEN=1 (it rewrites them) and read the diff.
"""

import io
import os
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from commerce_coordinator.apps.contracts import lifecycle, processing, registry
from commerce_coordinator.apps.contracts.models import Reason, State
from commerce_coordinator.apps.contracts.plugins import PermanentError
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .test_lifecycle import new

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, text: str, **values) -> None:
    path = GOLDEN / name
    expected_values = {k: str(v) for k, v in values.items()}
    if os.environ.get("CC_UPDATE_GOLDEN"):
        template = text
        for key, value in expected_values.items():
            template = template.replace(f'"{value}"', f'"{{{key}}}"').replace(f" {value}:", f" {{{key}}}:")
            template = template.replace(f"contract {value} ", f"contract {{{key}}} ")
        path.write_text(template, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    for key, value in expected_values.items():
        expected = expected.replace(f"{{{key}}}", value)
    assert text == expected


def run(command=None, stdin="", **options) -> tuple[str, int]:
    return processing.execute(processing.Request(command=command, **options), stdin)


@pytest.fixture
def shipped_backends():
    registry._instance.cache_clear()  # the settings' own registry: smt, telmex, net
    yield
    registry._instance.cache_clear()


@pytest.mark.parametrize("backend", ["smt", "telmex"])
def test_features_lists_item_types_params_and_features_from_the_plugin(shipped_backends, backend):
    document, status = run("features", backend=backend)
    assert status == 0
    golden(f"features_{backend}.xml", document)
    if backend == "smt":
        assert '<param name="api_token" crypted="yes" />' in document


@pytest.mark.parametrize(
    "command, start, end, reasons",
    [
        ("open", State.CREATED, State.ACTIVE, []),
        ("suspend", State.ACTIVE, State.SUSPENDED, ["admin"]),
        ("stop", State.ACTIVE, State.SUSPENDED, ["admin"]),
        ("close", State.ACTIVE, State.CANCELLED, []),
    ],
)
def test_item_commands_change_the_contract_through_the_lifecycle(backends, command, start, end, reasons):
    contract = new("alpha", activate=start != State.CREATED)
    document, status = run(command, item=str(contract.pk), backend="alpha", runningoperation="77")
    contract.refresh_from_db()
    assert (status, contract.state, contract.suspension_reasons) == (0, end, reasons)
    assert contract.events.last().actor in ("billmanager", "backend:alpha")
    assert contract.events.filter(actor="billmanager", why__contains="operation 77").exists()
    golden("ok.xml", document)


@pytest.mark.parametrize("command", ["resume", "start"])
def test_resume_and_start_clear_the_admin_reason_only(backends, command):
    contract = new("alpha")
    lifecycle.suspend(contract, Reason.ADMIN, actor="billmanager")
    lifecycle.suspend(contract, Reason.OVERDUE, actor="dunning")
    assert run(command, item=str(contract.pk))[1] == 0
    contract.refresh_from_db()
    assert contract.state == State.SUSPENDED and contract.suspension_reasons == ["overdue"]
    run("suspend", item=str(contract.pk))
    lifecycle.resume(contract, Reason.OVERDUE, actor="dunning")
    assert run(command, item=str(contract.pk))[1] == 0
    contract.refresh_from_db()
    assert contract.state == State.ACTIVE


def test_stat_reports_usage_of_the_backends_open_contracts(shipped_backends):
    a = new("smt", name="A")
    b = new("smt", name="B")
    lifecycle.suspend(b, Reason.ADMIN, actor="t")
    gone = new("smt", name="gone")
    lifecycle.cancel(gone, actor="t")
    new("telmex", name="not smt's")
    document, status = run("stat", backend="smt")
    assert status == 0
    golden("stat_smt.xml", document, a=a.pk, b=b.pk)


def test_check_connection_reads_the_params_from_standard_input(shipped_backends):
    params = (
        "<doc><processingmodule><api_url>https://smt.example</api_url><api_token>t</api_token></processingmodule></doc>"
    )
    document, status = run("check_connection", stdin=params, backend="smt")
    assert status == 0
    golden("ok.xml", document)


def test_check_connection_failing_at_the_backend_is_an_error(backends, monkeypatch):
    def refuse(self, params):
        raise PermanentError("401 from the backend: bad token", status_code=401)

    monkeypatch.setattr(type(registry.plugin_for("alpha")), "check_connection", refuse)
    document, status = run("check_connection", stdin="<doc><api_url>u</api_url></doc>", backend="alpha")
    assert status == 1
    golden("error_connection.xml", document)


@pytest.mark.parametrize(
    "name, options",
    [
        ("error_unknown_command.xml", {"command": "reboot"}),
        ("error_missing_command.xml", {}),
        ("error_missing_item.xml", {"command": "open"}),
        ("error_bad_item.xml", {"command": "suspend", "item": "twelve"}),
        ("error_no_contract.xml", {"command": "close", "item": "999999"}),
        ("error_missing_backend.xml", {"command": "features"}),
        ("error_unknown_backend.xml", {"command": "features", "backend": "nowhere"}),
        ("error_no_plugin.xml", {"command": "stat", "backend": "net"}),
        ("error_missing_param.xml", {"command": "check_connection", "backend": "smt", "stdin": "<doc/>"}),
        ("error_bad_stdin.xml", {"command": "check_connection", "backend": "smt", "stdin": "<doc><oops>"}),
    ],
)
def test_each_error_is_an_xml_error_and_exit_1(shipped_backends, name, options):
    document, status = run(**options)
    assert status == 1
    golden(name, document)


def test_a_refused_transition_and_a_contract_of_another_backend_are_errors(backends):
    contract = new("alpha")
    lifecycle.cancel(contract, actor="t")
    refused, status = run("open", item=str(contract.pk))
    assert status == 1
    golden("error_refused.xml", refused, id=contract.pk)
    other = new("beta")
    document, status = run("suspend", item=str(other.pk), backend="alpha")
    assert status == 1
    golden("error_other_backend.xml", document, id=other.pk)
    other.refresh_from_db()
    assert other.state == State.ACTIVE


def test_an_unexpected_error_is_an_internal_xml_error(backends, monkeypatch):
    monkeypatch.setattr(lifecycle, "cancel", lambda *a, **k: 1 / 0)
    monkeypatch.setitem(processing.COMMANDS, "close", processing._change(lambda c, why: lifecycle.cancel(c)))
    document, status = run("close", item=str(new("alpha").pk))
    assert status == 1 and 'type="internal"' in document and "ZeroDivisionError" in document


def test_the_command_prints_the_document_and_exits_1_on_an_error(shipped_backends, capsys, monkeypatch):
    call_command("processing_module", "--command", "features", "--backend", "telmex")
    assert capsys.readouterr().out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<doc>')
    with pytest.raises(SystemExit) as exit_:
        call_command("processing_module", "--command", "destroy", "--item", "1")
    assert exit_.value.code == 1 and 'object="command" value="destroy"' in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("<doc><api_url>u</api_url><api_token>t</api_token></doc>"))
    call_command("processing_module", "--command", "check_connection", "--backend", "smt")
    assert "<ok />" in capsys.readouterr().out


def test_build_processing_xml_describes_the_module_from_the_plugins_params(shipped_backends, capsys, tmp_path):
    call_command("build_processing_xml", "--name", "pmsmt")
    golden("pmsmt.xml", capsys.readouterr().out)
    call_command("build_processing_xml", "--name", "pmtelmex", "--output", str(tmp_path / "pm.xml"))
    assert 'name="password" required="yes"' in (tmp_path / "pm.xml").read_text()


@pytest.mark.parametrize("name", ["smt", "pmnet", "pmnowhere", "pm"])
def test_build_processing_xml_refuses_a_module_without_a_plugin(shipped_backends, name):
    with pytest.raises(CommandError):
        call_command("build_processing_xml", "--name", name)


def test_open_whose_backend_call_failed_at_once_is_a_backend_error(backends):
    backends.SCRIPT["alpha"] = [PermanentError("no such plan at the backend")]
    contract = new("alpha", activate=False)
    document, status = run("open", item=str(contract.pk))
    assert status == 1
    golden("error_backend.xml", document, id=contract.pk)
