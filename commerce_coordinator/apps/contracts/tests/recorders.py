"""One recording receiver per contracts signal (receivers are not told their signal, so one each)."""

SIGNALS: list[tuple[str, dict]] = []


def recorder_for(name):
    def receive(sender, **kwargs):
        SIGNALS.append((name, kwargs))

    return receive


contract_created = recorder_for("contract_created")
contract_activating = recorder_for("contract_activating")
contract_activated = recorder_for("contract_activated")
contract_suspended = recorder_for("contract_suspended")
contract_resumed = recorder_for("contract_resumed")
contract_cancelling = recorder_for("contract_cancelling")
contract_cancelled = recorder_for("contract_cancelled")
contract_backend_failed = recorder_for("contract_backend_failed")


def names() -> list[str]:
    return [name for name, _ in SIGNALS]
