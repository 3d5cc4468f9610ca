"""System checks for the bus settings (`manage.py check`; the consumer refuses to start on an error)."""

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from commerce_coordinator.apps.core.signals import CoordinatorSignal

from .messages import JSON_TYPES, RESERVED_KEYS


@checks.register("commerce_coordinator")
def check_bus_commands(app_configs=None, **kwargs):
    """bus.E001-E004 and bus.W001: every CC_BUS_COMMANDS entry names a signal a JSON message can be sent as."""
    commands = getattr(settings, "CC_BUS_COMMANDS", {})
    if not isinstance(commands, dict):
        return [
            checks.Error(
                f"CC_BUS_COMMANDS is a {type(commands).__name__}, not a dict.",
                hint="Map each command name to the dotted path of a CoordinatorSignal.",
                obj="CC_BUS_COMMANDS",
                id="bus.E001",
            )
        ]
    messages = []
    for command, path in commands.items():
        messages += _check_command(command, path)
    return messages


def _check_command(command, path) -> list:
    label = f"CC_BUS_COMMANDS[{command!r}]"
    if not isinstance(command, str) or not command or not isinstance(path, str):
        return [
            checks.Error(
                f"{label}: a command name and a dotted path must be non-empty strings.",
                hint="Write 'command_name': 'package.module.signal'.",
                obj=label,
                id="bus.E001",
            )
        ]
    try:
        signal = import_string(path)
    except Exception as exc:
        return [
            checks.Error(
                f"{label}: {path!r} does not import ({type(exc).__name__}: {exc}).",
                hint="Fix the dotted path to a CoordinatorSignal.",
                obj=label,
                id="bus.E002",
            )
        ]
    if not isinstance(signal, CoordinatorSignal):
        return [
            checks.Error(
                f"{label}: {path!r} is a {type(signal).__name__}, not a CoordinatorSignal.",
                hint="Name a CoordinatorSignal declared in an app's signals.py.",
                obj=label,
                id="bus.E003",
            )
        ]
    found = []
    unfit = [n for n, t in signal.arguments.items() if n == "command" or not _carried_by_json(t)]
    if unfit:
        found.append(
            checks.Error(
                f"{label}: {path} declares argument(s) {', '.join(unfit)} that a JSON message cannot carry.",
                hint=f"Use JSON types ({', '.join(t.__name__ for t in JSON_TYPES)}), and do not name an argument "
                f"{' or '.join(RESERVED_KEYS[:1])!r}.",
                obj=label,
                id="bus.E004",
            )
        )
    if not _is_routed(signal):
        found.append(
            checks.Warning(
                f"{label}: {path} is not routed in CC_SIGNALS, so the command would do nothing.",
                hint="Add an entry for the signal to CC_SIGNALS.",
                obj=label,
                id="bus.W001",
            )
        )
    return found


def _carried_by_json(declared) -> bool:
    types = declared if isinstance(declared, tuple) else (declared,)
    return all(t in JSON_TYPES for t in types)


def _is_routed(signal: CoordinatorSignal) -> bool:
    """Whether CC_SIGNALS wired any receiver to it (core.routing sets `routes`; a broken entry wires none)."""
    return bool(signal.routes)


@checks.register("commerce_coordinator")
def check_bus_settings(app_configs=None, **kwargs):
    """bus.E005: the retry schedule, prefetch count and batch size; bus.W002: the test hook that kills the consumer."""
    found = []
    schedule = getattr(settings, "CC_BUS_RETRY_SCHEDULE", [])
    if not isinstance(schedule, (list, tuple)) or not all(
        isinstance(s, (int, float)) and not isinstance(s, bool) and s >= 0 for s in schedule
    ):
        found.append(
            checks.Error(
                "CC_BUS_RETRY_SCHEDULE must be a list of seconds (numbers >= 0).",
                hint="For example [5, 30, 120, 600].",
                obj="CC_BUS_RETRY_SCHEDULE",
                id="bus.E005",
            )
        )
    for name, hint in (("CC_BUS_PREFETCH", "For example 50."), ("CC_BUS_BATCH", "For example 20 (1: no batches).")):
        value = getattr(settings, name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            found.append(
                checks.Error(f"{name} must be an integer from 1 to 65535.", hint=hint, obj=name, id="bus.E005")
            )
    if getattr(settings, "CC_BUS_TEST_KILL_AFTER_COMMIT", False):
        found.append(
            checks.Warning(
                "CC_BUS_TEST_KILL_AFTER_COMMIT is on: the consumer kills itself after every "
                "commit, before the acknowledgement.",
                hint="Only tests set it.",
                obj="CC_BUS_TEST_KILL_AFTER_COMMIT",
                id="bus.W002",
            )
        )
    return found
