"""manage.py show_signals: the CC_SIGNALS map as text, JSON or a Mermaid flowchart, with check status."""

import json
import re

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.core import routing


def _short(path: str) -> str:
    """'commerce_coordinator.apps.demo_lms.signals.test_signal' -> 'demo_lms.signals.test_signal'."""
    return path.removeprefix("commerce_coordinator.apps.")


def _mermaid_id(prefix: str, path: str) -> str:
    return prefix + re.sub(r"\W", "_", _short(path))


def render_text(plan) -> str:
    lines = []
    for entry in routing.signal_map(plan):
        arguments = ", ".join(f"{name}: {kind}" for name, kind in entry["arguments"].items())
        lines.append(f"{entry['signal']}({arguments})")
        lines += [f"  !! {p['id']}: {p['message']}" for p in entry["problems"]]
        for receiver in entry["receivers"]:
            options = [receiver["mode"].replace("_", "-")]
            if receiver["switch"]:
                options.append(f"switch={receiver['switch']}")
            if receiver["queue"]:
                options.append(f"queue={receiver['queue']}")
            lines.append(f"  -> {receiver['receiver']} [{', '.join(options)}] {receiver['status']}")
            if receiver.get("description"):
                lines.append(f"     {receiver['description']}")
            lines += [f"     !! {p['id']}: {p['message']}" for p in receiver["problems"]]
    for warning in routing.unrouted_warnings(plan):
        lines.append(f"{warning['id']}: {warning['message']}")
    return "\n".join(lines)


def _receiver_shape(receiver: dict) -> str:
    name = _short(receiver["receiver"])
    return f'[["{name} (task)"]]' if receiver["mode"] == "task" else f'["{name}"]'


def render_mermaid(plan, observed=()) -> str:
    """A flowchart with one node per signal and per receiver: each signal to its receivers (task receivers
    dashed, switched ones labelled), and each send that stored traces observed from inside a receiver
    (receiver -> signal, a dotted edge labelled "observed")."""
    nodes: dict[str, str] = {}  # mermaid id -> its declaration, each declared once
    edges: list[str] = []
    styles: list[str] = []
    for entry in routing.signal_map(plan):
        signal_id = _mermaid_id("S_", entry["signal"])
        nodes.setdefault(signal_id, f'  {signal_id}(["{_short(entry["signal"])}"])')
        for receiver in entry["receivers"]:
            receiver_id = _mermaid_id("R_", receiver["receiver"])
            nodes.setdefault(receiver_id, f"  {receiver_id}{_receiver_shape(receiver)}")
            label = f"|switch: {receiver['switch']}|" if receiver["switch"] else ""
            arrow = "-.->" if receiver["mode"] == "task" else "-->"
            edges.append(f"  {signal_id} {arrow}{label} {receiver_id}")
            style = f"  style {receiver_id} stroke:#d00,stroke-width:2px"
            if receiver["status"] == "error" and style not in styles:
                styles.append(style)
    observed_links = []
    for send in observed:
        prefix = "R_" if send["sender_kind"] == "receiver" else "T_"
        sender_id, signal_id = _mermaid_id(prefix, send["sender"]), _mermaid_id("S_", send["signal"])
        shape = f'["{_short(send["sender"])}"]' if prefix == "R_" else f'[["{_short(send["sender"])} (task)"]]'
        nodes.setdefault(sender_id, f"  {sender_id}{shape}")
        nodes.setdefault(signal_id, f'  {signal_id}(["{_short(send["signal"])}"])')
        observed_links.append(len(edges))
        edges.append(f"  {sender_id} -.->|observed| {signal_id}")
    if observed_links:  # dotted finer than a task receiver's dashed edge, and grey
        styles.append(f"  linkStyle {','.join(map(str, observed_links))} stroke:#888,stroke-dasharray:2 3")
    return "\n".join(["flowchart LR", *nodes.values(), *edges, *styles])


class Command(BaseCommand):
    help = "Show how CC_SIGNALS routes each signal to its receivers, and any configuration problem."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["text", "json", "mermaid"], default="text")

    def handle(self, *args, **options):
        plan = routing.analyse()
        if options["format"] == "json":
            output = json.dumps(routing.map_document(plan), indent=2)
        elif options["format"] == "mermaid":
            output = render_mermaid(plan, routing.observed_sends(plan))
        else:
            output = render_text(plan)
        self.stdout.write(output)
