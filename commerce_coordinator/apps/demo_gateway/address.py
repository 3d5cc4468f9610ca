"""The dev server tells a shell beside it where it listens (see settings.components.demo_gateway)."""

import sys

from django.conf import settings


def runserver_url(argv: list[str]) -> str | None:
    """http://host:port of a `manage.py runserver [addrport]` command line, or None for any other command."""
    if len(argv) < 2 or argv[1] != "runserver":
        return None
    addrport = next((a for a in argv[2:] if not a.startswith("-")), "127.0.0.1:8000")
    host, _, port = addrport.rpartition(":")
    if not port.isdigit():
        host, port = addrport, "8000"
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "localhost"
    return f"http://{host}:{port}"


def remember_dev_server_address(argv: list[str] | None = None) -> None:
    url = runserver_url(sys.argv if argv is None else argv)
    if url and settings.DEBUG:
        try:
            (settings.VAR_DIR / "dev_server_url").write_text(url + "\n")
        except OSError:  # a read-only checkout: the shell falls back to DEMO_GATEWAY_URL or :8140
            pass
