"""BILLmanager's processing-module protocol, as a front door to the contract backends (ADR 0041).

BILLmanager runs a processing module as `<module> --command C [--item N ...]` and reads one XML document
from its standard output. Here `manage.py processing_module --backend B ...` answers for backend B:
`features` lists item types, params and features from the backend plugin's declaration; `open`,
`suspend`, `resume`, `close`, `start`, `stop` change the contract `--item` (a contract id) through the
same lifecycle functions as the API and the admin; `stat` reports usage; `check_connection` reads the
module's params from standard input. Success: the document and exit 0. Failure: `<doc><error type=..
object=.. value=..>message</error></doc>` and exit 1, so that BILLmanager sees it failed.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from commerce_coordinator.apps.core import retries, tracing
from commerce_coordinator.apps.core.durable import WorkStatus

from . import lifecycle, registry
from .models import Contract, Reason, State
from .plugins import ContractBackend

logger = logging.getLogger(__name__)

ACTOR = "billmanager"


class ProcessingError(Exception):
    """An answer of the error shape: BILLmanager shows `type`, `object` and `value` to its operator."""

    def __init__(self, type_: str, object_: str, value: str, message: str):
        super().__init__(message)
        self.type, self.object, self.value, self.message = type_, object_, str(value), message


@dataclass
class Request:
    """The options BILLmanager passes (those a command does not use are ignored)."""

    command: str | None = None
    backend: str | None = None
    subcommand: str | None = None
    id: str | None = None
    item: str | None = None
    module: str | None = None
    param: str | None = None
    value: str | None = None
    runningoperation: str | None = None
    level: str | None = None
    userid: str | None = None


def render(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def ok_doc() -> ET.Element:
    doc = ET.Element("doc")
    ET.SubElement(doc, "ok")
    return doc


def error_doc(error: ProcessingError) -> ET.Element:
    doc = ET.Element("doc")
    element = ET.SubElement(doc, "error", {"type": error.type, "object": error.object, "value": error.value})
    element.text = error.message
    return doc


# --- the commands -----------------------------------------------------------------------------------


def features(request: Request) -> ET.Element:
    plugin = _plugin(request.backend)
    doc = ET.Element("doc")
    ET.SubElement(ET.SubElement(doc, "itemtypes"), "itemtype", {"name": plugin.processing_item_type()})
    params = ET.SubElement(doc, "params")
    for param in plugin.processing_params:
        ET.SubElement(params, "param", {"name": param.name, **({"crypted": "yes"} if param.secret else {})})
    names = ET.SubElement(doc, "features")
    for name in ["features", *plugin.features()]:
        ET.SubElement(names, "feature", {"name": name})
    return doc


def _change(operation):
    """An item command: the contract `--item`, of this module's backend, changed by a lifecycle operation."""

    def command(request: Request) -> ET.Element:
        contract = _contract(request)
        why = f"BILLmanager {request.command}" + (
            f" (operation {request.runningoperation})" if request.runningoperation else ""
        )
        try:
            operation(contract, why)
        except lifecycle.TransitionRefused as exc:
            raise ProcessingError("state", "item", contract.pk, f"{exc} (the contract is {contract.state})") from None
        if contract.state == State.ACTIVATION_FAILED:  # the backend call already ran (tasks in process) and failed
            failed = contract.backend_calls.filter(status=WorkStatus.FAILED).order_by("-pk").first()
            raise ProcessingError("backend", contract.backend, contract.pk, failed.last_error if failed else "failed")
        return ok_doc()

    return command


def stat(request: Request) -> ET.Element:
    plugin = _plugin(request.backend)
    contracts = Contract.objects.filter(backend=plugin.name).exclude(state=State.CANCELLED).order_by("pk")
    usage = plugin.stat([c.info() for c in contracts])
    doc = ok_doc()
    for contract_id, values in sorted(usage.items()):
        item = ET.SubElement(doc, "item", {"id": str(contract_id)})
        for name, value in sorted(values.items()):
            ET.SubElement(item, "param", {"name": name, "value": str(value)})
    return doc


def check_connection(request: Request, stdin: str = "") -> ET.Element:
    plugin = _plugin(request.backend)
    params = read_params(stdin)
    for param in plugin.processing_params:
        if param.required and not params.get(param.name):
            raise ProcessingError("missed", param.name, "", f"the module's parameter {param.name!r} is missing")
    try:
        plugin.check_connection(params)
    except Exception as exc:
        raise ProcessingError("connection", plugin.name, retries.status_code_of(exc) or "", str(exc)) from None
    return ok_doc()


def read_params(stdin: str) -> dict[str, str]:
    """The module's params from BILLmanager's document: <doc><processingmodule><name>value</name>..."""
    try:
        root = ET.fromstring(stdin or "<doc/>")
    except ET.ParseError as exc:
        raise ProcessingError("xml", "stdin", "", f"standard input is not an XML document: {exc}") from None
    holder = root.find("processingmodule")
    holder = root if holder is None else holder
    return {child.tag: (child.text or "").strip() for child in holder}


COMMANDS = {
    "features": features,
    "open": _change(lambda c, why: lifecycle.activate(c, actor=ACTOR, why=why)),
    "suspend": _change(lambda c, why: lifecycle.suspend(c, Reason.ADMIN, actor=ACTOR, why=why)),
    "resume": _change(lambda c, why: lifecycle.resume(c, Reason.ADMIN, actor=ACTOR, why=why)),
    "stop": _change(lambda c, why: lifecycle.suspend(c, Reason.ADMIN, actor=ACTOR, why=why)),
    "start": _change(lambda c, why: lifecycle.resume(c, Reason.ADMIN, actor=ACTOR, why=why)),
    "close": _change(lambda c, why: lifecycle.cancel(c, actor=ACTOR, why=why)),
    "stat": stat,
    "check_connection": check_connection,
}


def execute(request: Request, stdin: str = "") -> tuple[str, int]:
    """Run one command: (the XML document to print, the exit status)."""
    with tracing.span("command", f"processing_module {request.command}", ACTOR) as node:
        try:
            doc = _dispatch(request, stdin)
        except ProcessingError as error:
            logger.warning("processing_module %s failed: %s", request.command, error.message)
            if node is not None:
                node.outcome(tracing.ERROR, error.message)
            return render(error_doc(error)), 1
        except Exception as exc:
            logger.exception("processing_module %s: unexpected error", request.command)
            if node is not None:
                node.outcome(tracing.ERROR, f"{type(exc).__name__}: {exc}")
            error = ProcessingError("internal", request.command or "command", "", f"{type(exc).__name__}: {exc}")
            return render(error_doc(error)), 1
    return render(doc), 0


def _dispatch(request: Request, stdin: str) -> ET.Element:
    if not request.command:
        raise ProcessingError("missed", "command", "", "--command is required")
    command = COMMANDS.get(request.command)
    if command is None:
        raise ProcessingError(
            "value", "command", request.command, f"unknown command; one of {', '.join(sorted(COMMANDS))}"
        )
    if command is check_connection:
        return command(request, stdin)
    return command(request)


def _plugin(backend: str | None) -> ContractBackend:
    if not backend:
        raise ProcessingError("missed", "backend", "", "--backend is required for this command")
    try:
        plugin = registry.plugin_for(backend)
    except registry.UnknownBackend as exc:
        raise ProcessingError("value", "backend", backend, str(exc)) from None
    if plugin is None:
        raise ProcessingError("value", "backend", backend, f"backend {backend!r} has no plugin: no processing module")
    return plugin


def _contract(request: Request) -> Contract:
    if not request.item:
        raise ProcessingError("missed", "item", "", "--item is required for this command")
    try:
        contract_id = int(request.item)
    except ValueError:
        raise ProcessingError("value", "item", request.item, "--item must be a contract id (an integer)") from None
    contract = Contract.objects.filter(pk=contract_id).first()
    if contract is None:
        raise ProcessingError("not_found", "item", contract_id, f"no contract {contract_id}")
    if request.backend and contract.backend != request.backend:
        raise ProcessingError(
            "access", "item", contract_id, f"contract {contract_id} belongs to backend {contract.backend!r}"
        )
    tracing.add_keys(contract_id=contract_id)
    return contract


# --- the module's XML description (build_processing_xml) ---------------------------------------------


def backend_of_module(name: str) -> ContractBackend:
    """The plugin behind a processing module's name: pmNAME serves backend NAME."""
    if not name.startswith("pm") or len(name) == 2:
        raise ValueError(f"{name!r} is not a processing module name: it is 'pm' and the backend's name, e.g. pmsmt")
    backend = name[2:]
    try:
        plugin = registry.plugin_for(backend)
    except registry.UnknownBackend as exc:
        raise ValueError(str(exc)) from None
    if plugin is None:
        raise ValueError(f"backend {backend!r} has no plugin, so it has no processing module")
    return plugin


def module_description(name: str) -> str:
    """BILLmanager's XML for processing module `name`: the plugin, its params form, messages in ru and en."""
    plugin = backend_of_module(name)
    titles = {"en": plugin.title_en or plugin.name, "ru": plugin.title_ru or plugin.title_en or plugin.name}
    root = ET.Element("mgrdata")
    entry = ET.SubElement(root, "plugin", {"name": name})
    ET.SubElement(entry, "group").text = "processing_module"
    ET.SubElement(entry, "author").text = plugin.author
    ET.SubElement(ET.SubElement(entry, "params"), "type", {"name": plugin.processing_item_type()})
    descriptions = {
        "en": f"Commerce Coordinator contracts at {titles['en']}",
        "ru": f"Контракты Commerce Coordinator в {titles['ru']}",
    }
    for lang in ("ru", "en"):
        _msg(entry, "desc_short", titles[lang], lang)
        _msg(entry, "desc_full", descriptions[lang], lang)
    form = ET.SubElement(ET.SubElement(root, "metadata", {"name": f"processing.edit.{name}", "type": "form"}), "form")
    page = ET.SubElement(form, "page", {"name": "connect"})
    for param in plugin.processing_params:
        attributes = {"type": "password" if param.secret else "text", "name": param.name}
        if param.check:
            attributes["check"] = param.check
        attributes.update(required="yes" if param.required else "no", maxlength=str(param.maxlength))
        ET.SubElement(ET.SubElement(page, "field", {"name": param.name}), "input", attributes)
    for lang in ("ru", "en"):
        messages = ET.SubElement(ET.SubElement(root, "lang", {"name": lang}), "messages")
        messages.set("name", f"processing.edit.{name}")
        for param in plugin.processing_params:
            ET.SubElement(messages, "msg", {"name": param.name}).text = (
                param.label_ru if lang == "ru" else param.label_en
            )
        labels = ET.SubElement(root.find(f"lang[@name='{lang}']"), "messages", {"name": "label_processing_modules"})
        ET.SubElement(labels, "msg", {"name": name}).text = titles[lang]
        ET.SubElement(labels, "msg", {"name": f"module_{name}"}).text = titles[lang]
    return render(root)


def _msg(parent: ET.Element, name: str, text: str, lang: str) -> None:
    ET.SubElement(parent, "msg", {"name": name, "lang": lang}).text = text
