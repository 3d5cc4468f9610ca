"""manage.py processing_module: BILLmanager's processing-module protocol for a contract backend.

Install one wrapper per backend as BILLmanager's module executable, e.g. processing/pmsmt:
    exec /path/to/manage.py processing_module --backend smt "$@"
"""

import sys

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.contracts import processing

OPTIONS = ["subcommand", "id", "item", "module", "param", "value", "runningoperation", "level", "userid"]


class Command(BaseCommand):
    help = (
        "Answer one BILLmanager processing-module command (features, open, suspend, resume, close, start, "
        "stop, stat, check_connection) with its XML document; exit 1 with an XML error on failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--command", help="the protocol command (an unknown one is an XML error, exit 1)")
        parser.add_argument("--backend", help="the contract backend this module serves (pmNAME serves NAME)")
        for name in OPTIONS:
            parser.add_argument(f"--{name}")

    def handle(self, *args, **options):
        request = processing.Request(**{k: options[k] for k in ["command", "backend", *OPTIONS]})
        stdin = sys.stdin.read() if request.command == "check_connection" else ""
        document, status = processing.execute(request, stdin)
        self.stdout.write(document, ending="")
        if status:
            self.stdout.flush()
            sys.exit(status)
