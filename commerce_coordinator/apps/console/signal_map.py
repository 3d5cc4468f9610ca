"""The signal map as a mermaid flowchart: each signal and its receivers from CC_SIGNALS, with mode, queue,
switch state and check status, plus the signal -> signal edges observed in recent traces."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from waffle.models import Switch

from commerce_coordinator.apps.core import routing
from commerce_coordinator.apps.core.models import TraceNode

OBSERVED_WINDOW = timedelta(days=7)
OBSERVED_NODE_LIMIT = 5000


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


def observed_edges(now=None) -> set[tuple[str, str]]:
    """(signal, signal) pairs where a send happened inside a receiver (or task) of another send, lately."""
    since = (now or timezone.now()) - OBSERVED_WINDOW
    rows = TraceNode.objects.filter(started_at__gte=since).order_by("-started_at")
    nodes = {row[0]: row for row in rows.values_list("id", "parent_id", "kind", "name")[:OBSERVED_NODE_LIMIT]}
    edges = set()
    for _, parent, kind, name in nodes.values():
        if kind != "send":
            continue
        while parent in nodes and nodes[parent][2] != "send":
            parent = nodes[parent][1]
        if parent in nodes:
            edges.add((nodes[parent][3], name))
    return edges


def document() -> dict:
    """The map as data for the page's table, and its mermaid source."""
    entries = routing.signal_map()
    switches = switch_states({r["switch"] for e in entries for r in e["receivers"] if r["switch"]})
    for entry in entries:
        for receiver in entry["receivers"]:
            receiver["switch_active"] = switches.get(receiver["switch"]) if receiver["switch"] else None
    edges = observed_edges()
    return {"signals": entries, "observed": sorted(edges), "mermaid": mermaid(entries, edges)}


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


def mermaid(entries: list[dict], edges) -> str:
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
    for source, target in sorted(edges):
        for path in (source, target):
            if path not in known:
                known.add(path)
                lines.append(f'  {node_id("S_", path)}(["{label(short(path))}"]):::signal')
        lines.append(f"  {node_id('S_', source)} ==>|observed| {node_id('S_', target)}")
    return "\n".join(lines)
