"""show_signals and prune_traces."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, order_placed

ROUTES = {
    PREFIX + "order_placed": [
        PREFIX + "record",
        {"receiver": PREFIX + "record_task", "queue": "fulfillment"},
        {"receiver": PREFIX + "any_kwargs", "switch": "demo_lms.send_confirmation_email"},
        PREFIX + "missing",
    ],
}


def run(*args) -> str:
    out = StringIO()
    call_command("show_signals", *args, stdout=out)
    return out.getvalue()


@override_settings(CC_SIGNALS=ROUTES)
def test_show_signals_as_text():
    text = run()
    assert f"{PREFIX}order_placed(order_number: str, count: int)" in text
    assert f"-> {PREFIX}record [in-process] ok" in text
    assert f"-> {PREFIX}record_task [task, queue=fulfillment] ok" in text
    assert "switch=demo_lms.send_confirmation_email" in text
    assert "!! core.E004" in text


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS=ROUTES)
def test_show_signals_as_json():
    data = json.loads(run("--format", "json"))
    [entry] = data["signals"]
    assert [r["mode"] for r in entry["receivers"]] == ["in_process", "task", "in_process", "in_process"]
    assert entry["receivers"][3]["status"] == "error"
    assert {w["id"] for w in data["warnings"]} == {"core.W001"}


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS=ROUTES)
def test_show_signals_as_mermaid_marks_async_and_switched_receivers():
    chart = run("--format", "mermaid").splitlines()
    assert chart[0] == "flowchart LR"
    assert any("-.->" in line and "record_task" in line for line in chart)  # async: dashed
    assert any("|switch: demo_lms.send_confirmation_email|" in line for line in chart)
    assert any(line.strip().startswith("style R_core_tests_fixtures_missing") for line in chart)


NESTED = {
    PREFIX + "order_placed": [PREFIX + "send_nested", PREFIX + "any_kwargs"],
    PREFIX + "nested_signal": [PREFIX + "nested_receiver", PREFIX + "any_kwargs"],
}


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS=NESTED)
def test_show_signals_as_mermaid_declares_each_node_once_and_draws_the_sends_traces_observed():
    before = run("--format", "mermaid")
    assert "observed" not in before  # no trace yet: only the configured routes
    order_placed.send("t", order_number="M-1", count=1)
    order_placed.send("t", order_number="M-2", count=1)  # the same send again: still one edge

    chart = run("--format", "mermaid").splitlines()

    declarations = [line.split("[")[0].split("(")[0].strip() for line in chart if "[" in line or '(["' in line]
    declarations = [d for d in declarations if " " not in d]
    assert sorted(declarations) == sorted(set(declarations))  # one node per receiver and per signal
    assert declarations.count("R_core_tests_fixtures_any_kwargs") == 1
    observed = [line.strip() for line in chart if "observed" in line]
    assert observed == ["R_core_tests_fixtures_send_nested -.->|observed| S_core_tests_fixtures_nested_signal"]
    assert chart[-1].strip().startswith(f"linkStyle {len([ln for ln in chart if '->' in ln]) - 1} ")
    document = json.loads(run("--format", "json"))
    assert document["observed"] == [
        {"sender": PREFIX + "send_nested", "sender_kind": "receiver", "signal": PREFIX + "nested_signal"}
    ]


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS={PREFIX + "order_placed": [PREFIX + "record"]}, CC_TRACE_RETENTION_DAYS=7)
def test_prune_traces_deletes_only_traces_older_than_the_retention():
    old = order_placed.send("t", order_number="old", count=1)
    new = order_placed.send("t", order_number="new", count=1)
    TraceNode.objects.filter(trace_id=old.trace_id).update(started_at=timezone.now() - timedelta(days=8))
    out = StringIO()
    call_command("prune_traces", "--dry-run", stdout=out)
    assert "Would delete 1 trace(s)" in out.getvalue()
    assert TraceNode.objects.count() == 4
    call_command("prune_traces", stdout=out)
    assert "Deleted 1 trace(s), 2 node(s)" in out.getvalue()
    assert set(TraceNode.objects.values_list("trace_id", flat=True)) == {new.trace_id}
    call_command("prune_traces", "--days", "0", stdout=out)
    assert not TraceNode.objects.exists()
    with pytest.raises(CommandError):
        call_command("prune_traces", "--days", "-1")


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS={PREFIX + "order_placed": [PREFIX + "record"]})
def test_the_periodic_prune_task_runs_the_command():
    from django.conf import settings

    from commerce_coordinator.apps.core.tasks import prune_traces

    old = order_placed.send("t", order_number="old", count=1)
    TraceNode.objects.filter(trace_id=old.trace_id).update(started_at=timezone.now() - timedelta(days=400))
    assert prune_traces.delay().get().startswith("Deleted 1 trace(s)")
    assert settings.CELERY_BEAT_SCHEDULE["prune-traces"]["task"] == prune_traces.name


DESCRIBED = {
    PREFIX + "order_placed": [
        PREFIX + "dispatching_receiver",
        PREFIX + "badly_described_receiver",
        PREFIX + "object_task",
        PREFIX + "record",
        PREFIX + "missing",
    ],
}


@pytest.mark.django_db(databases=ALL_DATABASES)
@override_settings(CC_SIGNALS=DESCRIBED)
def test_the_map_shows_what_each_receiver_says_it_does():
    [entry] = json.loads(run("--format", "json"))["signals"]
    assert [r["description"] for r in entry["receivers"]] == [
        "dispatches to: alpha -> AlphaPlugin",  # its own describe_route()
        "(describe_route failed: LookupError: registry is broken)",  # shown, never raised
        "A task receiver for object_signal: core.E007.",  # a task's docstring, first line
        "",  # no docstring
        "",  # does not import
    ]
    assert "     dispatches to: alpha -> AlphaPlugin" in run()
