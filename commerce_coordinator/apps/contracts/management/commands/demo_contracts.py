"""manage.py demo_contracts: three contracts (smt, telmex, and net with no plugin), created and cancelled,
printed step by step with each contract's JSON, as the TCM plugin demo does."""

import json
import logging
from contextlib import contextmanager

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.contracts import clients, lifecycle
from commerce_coordinator.apps.contracts.models import Contract

RULE = "#" * 57
DEMO = [("Contract_1", "smt"), ("Contract_2", "telmex"), ("Contract_3", "net")]
BACKENDS_LOGGER = "commerce_coordinator.apps.backends"


def as_json(contract: Contract) -> str:
    contract.refresh_from_db()
    shown = {
        "name": contract.name,
        "active": contract.active,
        "activated": contract.activated,
        "backend": clients.describe(contract),
    }
    return json.dumps(shown, indent=2)


class _StdoutHandler(logging.Handler):
    """The backends' log lines, indented under the step that caused them."""

    def __init__(self, write):
        super().__init__(logging.INFO)
        self.write = write

    def emit(self, record):
        self.write(f"\t{record.getMessage()}")


@contextmanager
def backends_speaking(write):
    """Show what the backend plugins log, and run their calls in process so each step shows its effect."""
    from commerce_coordinator.celery import app

    handler = _StdoutHandler(write)
    log = logging.getLogger(BACKENDS_LOGGER)
    eager, level, propagate = app.conf.task_always_eager, log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = eager
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


class Command(BaseCommand):
    help = "Create and cancel one contract per demo backend (smt, telmex, net), printing each step and its JSON."

    def add_arguments(self, parser):
        parser.add_argument("--user", type=int, default=9001, help="LMS user id of the demo contracts")

    def handle(self, *args, **options):
        with backends_speaking(self.stdout.write):
            for name, backend in DEMO:
                self.demo(name, backend, options["user"])

    def demo(self, name: str, backend: str, user: int) -> None:
        say = self.stdout.write
        say(RULE)
        say(f"contract {name} will be created")
        contract = lifecycle.create_contract(
            name=name, lms_user_id=user, product="demo", package=backend, backend=backend, actor="demo_contracts"
        )
        say(f"Contract {name} created ({contract.state})\n")
        say(as_json(contract))
        say(f"Contract {name} is about to be cancelled")
        lifecycle.cancel(contract, actor="demo_contracts", why="demo")
        contract.refresh_from_db()
        say(f"Contract {name} cancelled ({contract.state})\n")
        say(as_json(contract))
        say(RULE + "\n")
