"""manage.py demo_contracts prints the TCM demo's steps: each backend's handler lines and each contract's JSON."""

import json
import re

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.contracts import registry
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def blocks(text: str) -> list[str]:
    return [b.strip() for b in text.split("#" * 57) if b.strip()]


def shown(block: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^\{.*?^\}", block, flags=re.S | re.M)]


def test_demo_contracts_prints_each_step_and_each_contracts_json(capsys):
    registry._instance.cache_clear()
    call_command("demo_contracts")
    smt, telmex, net = blocks(capsys.readouterr().out)
    assert smt.splitlines()[:3] == [
        "contract Contract_1 will be created",
        "\tSMT handles Contract_1 creation",
        "Contract Contract_1 created (active)",
    ]
    assert "\tSMT handles Contract_1 cancel\nContract Contract_1 cancelled (cancelled)" in smt
    assert shown(smt) == [
        {"name": "Contract_1", "active": True, "activated": True, "backend": {"name": "smt", "contract": "Contract_1"}},
        {
            "name": "Contract_1",
            "active": False,
            "activated": False,
            "backend": {"name": "smt", "contract": "Contract_1"},
        },
    ]
    assert "\tTELMEX handles Contract_2 creation" in telmex and "\tTELMEX handles Contract_2 cancel" in telmex
    assert [c["backend"] for c in shown(telmex)] == ["telmex", "telmex"]
    assert [(c["active"], c["activated"]) for c in shown(telmex)] == [(True, False), (False, False)]
    assert "handles" not in net and [c["backend"] for c in shown(net)] == ["net", "net"]
