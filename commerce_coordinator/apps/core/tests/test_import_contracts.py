"""Every app under apps/ is covered by the import-linter contracts in pyproject.toml (run by make quality)."""

import tomllib
from pathlib import Path

from django.conf import settings

APPS_DIR = Path(settings.BASE_DIR) / "commerce_coordinator" / "apps"
# The console is the top layer: it may import the plugin apps' public functions, and nothing imports it.
TOP_LAYER = {"commerce_coordinator.apps.console"}


def _app_packages() -> set[str]:
    """Every Django app package under apps/ (a directory with an apps.py), the core excepted."""
    found = set()
    for apps_py in APPS_DIR.rglob("apps.py"):
        package = apps_py.parent
        if "tests" in package.relative_to(APPS_DIR).parts or "app_templates" in package.parts:
            continue
        dotted = ".".join(package.relative_to(Path(settings.BASE_DIR)).parts)
        if dotted != "commerce_coordinator.apps.core":
            found.add(dotted)
    return found


def _contracts() -> list[dict]:
    with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def _covered(module: str, listed) -> bool:
    return any(module == m or module.startswith(m + ".") for m in listed)


def test_the_core_is_forbidden_to_import_every_plugin_app():
    [contract] = [c for c in _contracts() if c["name"] == "The core imports no plugin app"]
    missing = sorted(p for p in _app_packages() if not _covered(p, contract["forbidden_modules"]))
    assert missing == [], f"add {missing} to forbidden_modules of {contract['name']!r} in pyproject.toml"


def test_every_plugin_app_is_in_the_independence_contract():
    [contract] = [c for c in _contracts() if c["name"] == "Plugin apps do not import one another"]
    missing = sorted(p for p in _app_packages() - TOP_LAYER if p not in contract["modules"])
    assert missing == [], f"add {missing} to modules of {contract['name']!r} in pyproject.toml"
