"""Test-only backend plugins: they record what they are asked, fail as a test scripts, or are slow."""

from __future__ import annotations

import threading
import time

import requests

from commerce_coordinator.apps.contracts.plugins import (
    BackendReply,
    ContractBackend,
    ContractInfo,
    ProcessingParam,
    WorkError,
)

CALLS: list[tuple[str, str, int]] = []  # (backend, action, contract id)
SCRIPT: dict[str, list] = {}  # backend -> exceptions (or None) to raise on its next calls
URLS: dict[str, str] = {}  # backend -> URL its HttpBackend calls
_lock = threading.Lock()


def reset():
    CALLS.clear()
    SCRIPT.clear()
    URLS.clear()


class RecordingBackend(ContractBackend):
    """Records each call; raises what SCRIPT[backend] says next (None: succeed)."""

    processing_params = (ProcessingParam("api_url", "API URL", "URL API", required=True),)

    def _act(self, action: str, contract: ContractInfo):
        with _lock:
            CALLS.append((self.name, action, contract.id))
            script = SCRIPT.get(self.name) or []
            failure = script.pop(0) if script else None
        if failure is not None:
            raise failure
        return BackendReply(activated=action in ("activate", "resume"), data={"last": action})

    def activate(self, contract):
        return self._act("activate", contract)

    def suspend(self, contract, reason):
        return self._act("suspend", contract)

    def resume(self, contract):
        return self._act("resume", contract)

    def cancel(self, contract):
        return self._act("cancel", contract)

    def describe(self, contract):
        return {"name": self.name, "contract": contract.name, "state": contract.state}


class HttpBackend(RecordingBackend):
    """Calls a real HTTP endpoint (pytest-httpserver) per action: a 5xx/429 answer is retried, a 4xx is not."""

    def _act(self, action, contract):
        CALLS.append((self.name, action, contract.id))
        response = requests.post(f"{URLS[self.name]}/{action}", json={"contract": contract.id}, timeout=2)
        if response.status_code >= 400:  # core's policy decides from the status: 5xx and 429 retry
            raise WorkError(f"{action} answered {response.status_code}", status_code=response.status_code)
        return BackendReply(activated=action == "activate")


class BrokenDescribe(RecordingBackend):
    def describe(self, contract):
        raise RuntimeError("the backend's database is down")


class SlowDescribe(RecordingBackend):
    def describe(self, contract):
        time.sleep(1.0)
        return {"too": "late"}


class NotAPlugin:
    pass
