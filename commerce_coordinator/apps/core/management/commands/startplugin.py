"""manage.py startplugin NAME --kind backend|provider|app [DIR]: a new plugin app with the standard face.

A Django TemplateCommand over the app templates shipped in core (core/app_templates/): `common/` (the
face every plugin app has, with a routed signal and a passing test) plus the kind's own files (a
contract-backend plugin, a payment-provider plugin, or nothing more). It then prints exactly what to add
to the settings and to pyproject.toml's import-linter contracts. The core names no plugin: the wiring it
prints is text for the developer to paste.
"""

from __future__ import annotations

import keyword
import shutil
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.templates import TemplateCommand

TEMPLATES = Path(__file__).resolve().parents[2] / "app_templates"
KINDS = ("backend", "provider", "app")
KIND_NAMES = {"backend": "contract-backend", "provider": "payment-provider", "app": "plain"}
PROJECT = "commerce_coordinator"


def default_parent(kind: str) -> Path:
    apps_dir = Path(settings.BASE_DIR) / PROJECT / "apps"
    return apps_dir / "backends" if kind == "backend" else apps_dir


def dotted_module(target: Path) -> str:
    """The app's import path: relative to the project when it lives inside it, else its own top-level name."""
    try:
        return ".".join(target.resolve().relative_to(Path(settings.BASE_DIR).resolve()).parts)
    except ValueError:
        return target.name


def wiring(kind: str, name: str, module: str, camel: str) -> dict[str, list[str]]:
    """Where each line goes -> the lines, each a valid Python list item or dict entry."""
    settings_lines = {
        "INSTALLED_APPS": [f'"{module}",'],
        "CC_SIGNALS": [f'"{module}.signals.{name}_changed": ["{module}.receivers.log_{name}_changed"],'],
    }
    if kind == "backend":
        settings_lines["CC_CONTRACT_BACKENDS"] = [f'"{name}": "{module}.plugin.{camel}Backend",']
    elif kind == "provider":
        settings_lines["CC_PAYMENT_PROVIDERS"] = [f'"{name}": "{module}.provider.{camel}Provider",']
    linter = {
        "contract 1 forbidden_modules": [f'"{module}",'],
        "contract 2 modules": [f'"{module}",'],
    }
    public_api = {
        "backend": "commerce_coordinator.apps.contracts.plugins",
        "provider": "commerce_coordinator.apps.payments.providers",
    }.get(kind)
    covered = kind == "backend" and module.startswith(f"{PROJECT}.apps.backends.")
    if public_api and not covered:
        linter["contract 2 ignore_imports"] = [f'"{module}.** -> {public_api}",']
    return {"settings": settings_lines, "pyproject.toml [tool.importlinter]": linter}


class Command(TemplateCommand):
    help = "Create a plugin app (contract backend, payment provider, or plain app) with the standard face and a test."
    missing_args_message = "Give the plugin's NAME (a Python identifier) and --kind."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.parse_args = parser.parse_intermixed_args  # DIR may come after --kind: NAME --kind backend DIR
        return parser

    def add_arguments(self, parser):
        parser.add_argument("name", help="the app's name: a lower-case Python identifier, e.g. acme")
        parser.add_argument(
            "directory",
            nargs="?",
            help="the directory to create NAME/ in (default: apps/backends/ for a backend, apps/ otherwise)",
        )
        parser.add_argument("--kind", choices=KINDS, required=True)

    def handle(self, *args, **options):
        name, kind = options.pop("name"), options.pop("kind")
        self.refuse_bad_name(name, kind)
        parent = Path(options.pop("directory") or default_parent(kind))
        target = parent / name
        if target.exists():
            raise CommandError(f"{target} already exists: choose another name or remove it.")
        module = dotted_module(target)
        camel = "".join(part.title() for part in name.split("_"))
        label = f"backends_{name}" if kind == "backend" else name
        if label in apps.app_configs:
            raise CommandError(f"An installed app already has the label {label!r}: choose another name.")
        context = {
            **options,
            "extensions": ["py"],
            "files": [],
            "kind": kind,
            "app_module": module,
            "app_label": label,
            "verbose_name": f"{camel} ({kind} plugin)",
        }
        target.mkdir(parents=True)
        try:
            for layer in ["common", kind]:
                if (TEMPLATES / layer).is_dir():
                    super().handle("app", name, str(target), template=str(TEMPLATES / layer), **context)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # nothing half-written
            raise
        self.stdout.write(self.instructions(kind, name, module, camel, target))

    def refuse_bad_name(self, name: str, kind: str) -> None:
        if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
            raise CommandError(f"{name!r} is not a valid app name: use a lower-case Python identifier, e.g. acme_pay.")
        taken = {
            "backend": getattr(settings, "CC_CONTRACT_BACKENDS", {}),
            "provider": getattr(settings, "CC_PAYMENT_PROVIDERS", {}),
        }.get(kind, {})
        if name in taken:
            setting = "CC_CONTRACT_BACKENDS" if kind == "backend" else "CC_PAYMENT_PROVIDERS"
            raise CommandError(f"{name!r} is already a key of {setting}: choose another name.")

    def instructions(self, kind: str, name: str, module: str, camel: str, target: Path) -> str:
        lines = [f"Created the {KIND_NAMES[kind]} plugin app {module} in {target}.", ""]
        for place, entries in wiring(kind, name, module, camel).items():
            lines.append(f"Add to {place}:")
            for where, items in entries.items():
                lines += [f"    {where}: {item}" for item in items]
            lines.append("")
        if module == target.name:
            lines += [f"{target.parent} must be on the Python path (PYTHONPATH) for {module!r} to import.", ""]
        if kind == "provider":
            lines += [f"Set {name.upper()}_WEBHOOK_SECRET (settings or environment) for its webhook signature.", ""]
        lines.append(f"Then: manage.py check && pytest {target}")
        return "\n".join(lines)
