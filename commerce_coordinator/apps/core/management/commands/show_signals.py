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


def render_mermaid(plan) -> str:
    """A flowchart from each signal to its receivers; task receivers dashed, switched ones labelled."""
    lines = ["flowchart LR"]
    for entry in routing.signal_map(plan):
        signal_id = _mermaid_id("S_", entry["signal"])
        lines.append(f'  {signal_id}(["{_short(entry["signal"])}"])')
        for receiver in entry["receivers"]:
            receiver_id = _mermaid_id("R_", receiver["receiver"])
            shape = (
                f'[["{_short(receiver["receiver"])} (task)"]]'
                if receiver["mode"] == "task"
                else (f'["{_short(receiver["receiver"])}"]')
            )
            label = f"switch: {receiver['switch']}" if receiver["switch"] else ""
            arrow = "-.->" if receiver["mode"] == "task" else "-->"
            lines.append(f"  {receiver_id}{shape}")
            lines.append(f"  {signal_id} {arrow}{'|' + label + '|' if label else ''} {receiver_id}")
            if receiver["status"] == "error":
                lines.append(f"  style {receiver_id} stroke:#d00,stroke-width:2px")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Show how CC_SIGNALS routes each signal to its receivers, and any configuration problem."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["text", "json", "mermaid"], default="text")

    def handle(self, *args, **options):
        plan = routing.analyse()
        if options["format"] == "json":
            output = json.dumps(routing.map_document(plan), indent=2)
        elif options["format"] == "mermaid":
            output = render_mermaid(plan)
        else:
            output = render_text(plan)
        self.stdout.write(output)
