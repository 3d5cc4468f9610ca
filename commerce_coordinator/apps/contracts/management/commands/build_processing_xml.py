"""manage.py build_processing_xml --name pmNAME: the XML description BILLmanager installs for a module."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from commerce_coordinator.apps.contracts import processing


class Command(BaseCommand):
    help = "Write BILLmanager's XML description of processing module pmNAME (backend NAME's plugin and params)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the module's name: pm + the backend's name, e.g. pmsmt")
        parser.add_argument("--output", help="a file to write (default: standard output)")

    def handle(self, *args, **options):
        try:
            document = processing.module_description(options["name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["output"]:
            Path(options["output"]).write_text(document, encoding="utf-8")
            self.stdout.write(f"wrote {options['output']}")
        else:
            self.stdout.write(document, ending="")
