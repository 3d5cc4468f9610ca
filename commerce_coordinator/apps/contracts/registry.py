"""The backend-plugin registry: settings.CC_CONTRACT_BACKENDS, backend name -> plugin class path or None."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from .plugins import ContractBackend, is_backend_class


class UnknownBackend(LookupError):
    """A backend name that CC_CONTRACT_BACKENDS does not list."""


@dataclass(frozen=True)
class RegistryProblem:
    id: str
    backend: str
    msg: str
    hint: str


def configured() -> dict[str, str | None]:
    return dict(getattr(settings, "CC_CONTRACT_BACKENDS", {}) or {})


@lru_cache(maxsize=64)
def _instance(name: str, path: str) -> ContractBackend:
    return import_string(path)(name)  # plugins keep no per-call state: one instance per (name, class)


def plugin_for(backend: str) -> ContractBackend | None:
    """The plugin of `backend`, or None when the backend has none; UnknownBackend when it is not configured."""
    backends = configured()
    if backend not in backends:
        raise UnknownBackend(f"backend {backend!r} is not in CC_CONTRACT_BACKENDS")
    path = backends[backend]
    return _instance(backend, path) if path else None


def has_no_plugin(backend: str) -> bool:
    """Configured, with None: its contracts live on the core's information alone."""
    backends = configured()
    return backend in backends and backends[backend] is None


def plugin_or_none(backend: str) -> ContractBackend | None:
    """As plugin_for, but a backend that is not configured has no plugin (shown as the bare name)."""
    try:
        return plugin_for(backend)
    except UnknownBackend:
        return None


def summary() -> dict[str, str]:
    """Backend name -> what acts for it, as the signal map shows it."""
    return {name: (path or "(no plugin: core information only)") for name, path in configured().items()}


def problems() -> list[RegistryProblem]:
    """What is wrong with CC_CONTRACT_BACKENDS (contracts.E001-E003), never raising."""
    found = []
    raw = getattr(settings, "CC_CONTRACT_BACKENDS", {})
    if not isinstance(raw, dict):
        return [
            RegistryProblem(
                "contracts.E003",
                "CC_CONTRACT_BACKENDS",
                f"CC_CONTRACT_BACKENDS is a {type(raw).__name__}, not a dict.",
                "Map each backend name to the dotted path of its plugin class, or to None.",
            )
        ]
    for name, path in raw.items():
        if path is None:
            continue
        if not isinstance(path, str) or not path:
            found.append(
                RegistryProblem(
                    "contracts.E003",
                    name,
                    f"CC_CONTRACT_BACKENDS[{name!r}] is {path!r}, not a dotted path or None.",
                    "Give the dotted path of a ContractBackend subclass, or None for a backend with no plugin.",
                )
            )
            continue
        try:
            obj = import_string(path)
        except Exception as exc:  # ImportError, or an error raised while importing the module
            found.append(
                RegistryProblem(
                    "contracts.E001",
                    name,
                    f"CC_CONTRACT_BACKENDS[{name!r}]: plugin {path!r} does not import ({type(exc).__name__}: {exc}).",
                    "Fix the dotted path, or add the plugin's app to INSTALLED_APPS and the Python path.",
                )
            )
            continue
        if not is_backend_class(obj):
            found.append(
                RegistryProblem(
                    "contracts.E002",
                    name,
                    f"CC_CONTRACT_BACKENDS[{name!r}]: {path!r} is not a ContractBackend subclass.",
                    "Name a class that subclasses commerce_coordinator.apps.contracts.plugins.ContractBackend.",
                )
            )
    return found
