"""Static files: the vendored scripts are ours to serve (no CDN), whitenoise serves them, collectstatic ships them."""

import re
from pathlib import Path

from django.core.management import call_command

CONSOLE = Path(__file__).resolve().parent.parent
VENDOR = CONSOLE / "static" / "console" / "vendor"


def test_no_template_loads_anything_from_another_host():
    for template in (CONSOLE / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), f"{template.name} loads from another host"


def test_every_vendored_file_is_recorded_with_version_licence_and_checksum():
    import hashlib

    record = (VENDOR / "VENDORED.md").read_text()
    for script in VENDOR.glob("*.js"):
        digest = hashlib.sha256(script.read_bytes()).hexdigest()
        assert f"`{script.name}`" in record and digest in record, f"update VENDORED.md for {script.name}"
        assert (VENDOR / f"{script.name.split('.')[0]}.LICENSE").exists()


def test_mermaid_is_initialised_in_strict_mode():
    assert 'securityLevel: "strict"' in (CONSOLE / "static" / "console" / "signals.js").read_text()


def test_whitenoise_serves_the_console_files(client):
    response = client.get("/static/console/console.css")
    assert response.status_code == 200
    assert b"tone-error" in b"".join(response.streaming_content)


def test_collectstatic_ships_hashed_compressed_files_for_production(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "console" / "vendor" / "htmx.min.js").exists()
    assert list((tmp_path / "console" / "vendor").glob("htmx.min.*.js.gz"))  # hashed and compressed
    assert "console/console.js" in (tmp_path / "staticfiles.json").read_text()
