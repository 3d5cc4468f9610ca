"""The signal map as a mermaid flowchart: each signal and its receivers from CC_SIGNALS, with mode, queue,
switch state and check status, plus the sends that stored traces observed from inside a receiver (core's
`routing.observed_sends`), so each signal -> receiver -> signal path shows."""

from __future__ import annotations

import re

from waffle.models import Switch

from commerce_coordinator.apps.core import routing


def short(path: str) -> str:
    return path.removeprefix("commerce_coordinator.apps.")


def node_id(prefix: str, path: str) -> str:
    return prefix + re.sub(r"\W", "_", short(path))


def label(text: str) -> str:
    """Text safe inside a quoted mermaid label (strict mode renders it as text, never as HTML)."""
    return re.sub(r'["<>#;`]', " ", text)


def switch_states(names) -> dict[str, bool | None]:
    found = dict(Switch.objects.filter(name__in=list(names)).values_list("name", "active"))
    return {name: found.get(name) for name in names}


def document() -> dict:
    """The map as data for the page's table, and its mermaid source."""
    plan = routing.analyse()
    entries = routing.signal_map(plan)
    switches = switch_states({r["switch"] for e in entries for r in e["receivers"] if r["switch"]})
    for entry in entries:
        for receiver in entry["receivers"]:
            receiver["switch_active"] = switches.get(receiver["switch"]) if receiver["switch"] else None
    observed = routing.observed_sends(plan)
    return {"signals": entries, "observed": observed, "mermaid": mermaid(entries, observed)}


def _receiver_label(receiver: dict) -> str:
    parts = [short(receiver["receiver"]), "task" if receiver["mode"] == "task" else "in process"]
    if receiver["queue"]:
        parts.append(f"queue {receiver['queue']}")
    if receiver["switch"]:
        state = {True: "on", False: "off", None: "unknown"}[receiver["switch_active"]]
        parts.append(f"switch {receiver['switch']} {state}")
    if receiver["status"] != "ok":
        parts.append(f"check {receiver['status'].upper()}")
    return label(" · ".join(parts))


def mermaid(entries: list[dict], observed: list[dict]) -> str:
    lines = [
        "flowchart LR",
        "  classDef error fill:#fde2e2,stroke:#b00020,stroke-width:2px",
        "  classDef warning fill:#fff4d6,stroke:#9a6700",
        "  classDef off fill:#eeeeee,stroke:#777,stroke-dasharray:4 3",
        "  classDef signal fill:#e6f0ff,stroke:#1f5fbf",
    ]
    known = set()
    for entry in entries:
        signal = node_id("S_", entry["signal"])
        known.add(entry["signal"])
        state = " · check ERROR" if entry["problems"] else ""
        lines.append(f'  {signal}(["{label(short(entry["signal"]) + state)}"]):::signal')
        for receiver in entry["receivers"]:
            target = node_id("R_", receiver["receiver"])
            shape = '[["{}"]]' if receiver["mode"] == "task" else '["{}"]'
            lines.append(f"  {target}{shape.format(_receiver_label(receiver))}")
            lines.append(f"  {signal} {'-.->' if receiver['mode'] == 'task' else '-->'} {target}")
            if receiver["status"] in ("error", "warning"):
                lines.append(f"  class {target} {receiver['status']}")
            elif receiver["switch_active"] is False:
                lines.append(f"  class {target} off")
    for send in observed:  # a receiver (or a task) that sent another signal, as traces saw it
        prefix = "R_" if send["sender_kind"] == "receiver" else "T_"
        sender = node_id(prefix, send["sender"])
        if prefix == "T_":
            lines.append(f'  {sender}[["{label(short(send["sender"]))} · task"]]')
        if send["signal"] not in known:
            known.add(send["signal"])
            lines.append(f'  {node_id("S_", send["signal"])}(["{label(short(send["signal"]))}"]):::signal')
        lines.append(f"  {sender} ==>|sends, observed| {node_id('S_', send['signal'])}")
    return "\n".join(lines)
