"""The README's shell examples run as written, against a live `make run`, so they cannot drift.

Every fenced ```sh block of README.md is an example. It is run, in README order, with `bash -e -o
pipefail`, from the repository root, against a server started by `make run` in a fresh CC_VAR_DIR (the
only change to the text: `localhost:8140` becomes the port the test server bound; curl gets --fail
through a curlrc, so an HTTP error fails the example). A block preceded by
`<!-- example: not run (reason) -->` is not run, and says why.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from dataclasses import dataclass

import pytest

from .devserver import BASE_DIR, DevServer

README = BASE_DIR / "README.md"
FENCE = re.compile(
    r"(?:^<!-- example: (?P<mark>[^\n]*?) -->\n)?^(?P<indent>[ ]*)```(?P<lang>[a-z]*)\n(?P<body>.*?)^(?P=indent)```$",
    re.S | re.M,
)


@dataclass
class Example:
    line: int
    lang: str
    mark: str
    code: str

    @property
    def runs(self) -> bool:
        return self.lang == "sh" and not self.mark.startswith("not run")


def readme_examples() -> list[Example]:
    text = README.read_text()
    return [
        Example(
            line=text.count("\n", 0, m.start("body")) + 1,
            lang=m.group("lang"),
            mark=(m.group("mark") or "").strip(),
            code=textwrap.dedent(m.group("body")),
        )
        for m in FENCE.finditer(text)
    ]


def test_every_command_block_of_the_readme_is_run_or_says_why_not():
    examples = readme_examples()
    assert sum(e.runs for e in examples) >= 5
    for example in examples:
        if example.lang != "sh" and re.search(r"(^|\s)(curl|manage\.py|make|python3?) ", example.code):
            pytest.fail(f"README.md line {example.line}: a command block not marked ```sh (so never checked)")
        if example.mark and not re.fullmatch(r"not run \(.+\)", example.mark):
            pytest.fail(f"README.md line {example.line}: write `<!-- example: not run (why) -->`")
        if example.runs:
            assert not re.search(r"(^|\s)python ", example.code), (
                f"README.md line {example.line}: `python` is not on a fresh Debian; use python3 or .venv/bin/python"
            )


@pytest.mark.skipif(os.environ.get("DB_ENGINE") == "mysql", reason="make run is the SQLite embedded default")
def test_the_readme_examples_run_as_written_against_make_run(tmp_path):
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\nshow-error\n")
    server = DevServer(tmp_path / "var", CURL_HOME=str(curl_home))
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        server.env.pop(name, None)
    try:
        server.start(["make", "--no-print-directory", "run", "PORT=0"], timeout=240)
        port = server.url.rsplit(":", 1)[1]
        for example in (e for e in readme_examples() if e.runs):
            code = example.code.replace("localhost:8140", f"localhost:{port}")
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", code],
                cwd=BASE_DIR,
                env=server.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, (
                f"README.md example at line {example.line} failed ({result.returncode}):\n{code}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}\n"
                f"--- server\n{server.log()[-4000:]}"
            )
        # What the examples promise: the webhooks they sent end in enrolled orders.
        server.create_staff()
        for order_number in ("ORD-1", "ORD-2", "DEMO-1"):
            server.wait_for_order(order_number, "fulfilled", timeout=60)
    finally:
        server.stop()
