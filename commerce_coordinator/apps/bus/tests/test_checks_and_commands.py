"""The bus's system checks, and the operators' commands (publish, one-shot consume)."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from commerce_coordinator.apps.bus import checks
from commerce_coordinator.apps.bus.models import ProcessedMessage
from commerce_coordinator.apps.bus.publisher import send_raw
from commerce_coordinator.apps.bus.tests import fixtures
from commerce_coordinator.apps.bus.tests.support import consume, declare, depth, drain, publish
from commerce_coordinator.apps.bus.topology import topology
from commerce_coordinator.apps.core.models import WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES

PREFIX = fixtures.PREFIX


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_the_test_wiring_is_clean():
    assert checks.check_bus_commands() == [] and checks.check_bus_settings() == []


@pytest.mark.parametrize(
    "commands, expected, text",
    [
        (["issue_invoice"], ["bus.E001"], "CC_BUS_COMMANDS is a list, not a dict"),
        ({"": PREFIX + "subscribe"}, ["bus.E001"], "must be non-empty strings"),
        ({"subscribe": PREFIX + "nope"}, ["bus.E002"], "does not import"),
        ({"subscribe": PREFIX + "record_effect"}, ["bus.E003"], "is a function, not a CoordinatorSignal"),
        (
            {"object": "commerce_coordinator.apps.core.tests.fixtures.object_signal"},
            ["bus.E004", "bus.W001"],
            "declares argument(s) user that a JSON message cannot carry",
        ),
        (
            {"nested": "commerce_coordinator.apps.core.tests.fixtures.nested_signal"},
            ["bus.W001"],
            "is not routed in CC_SIGNALS, so the command would do nothing",
        ),
    ],
)
def test_a_bad_command_entry_is_reported_with_a_stable_id(commands, expected, text):
    with override_settings(CC_BUS_COMMANDS=commands):
        found = checks.check_bus_commands()
    assert ids(found) == expected and text in found[0].msg


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"CC_BUS_RETRY_SCHEDULE": [5, -1]}, ["bus.E005"]),
        ({"CC_BUS_RETRY_SCHEDULE": "5,30"}, ["bus.E005"]),
        ({"CC_BUS_PREFETCH": 0}, ["bus.E005"]),
        ({"CC_BUS_BATCH": 0}, ["bus.E005"]),
        ({"CC_BUS_BATCH": "20"}, ["bus.E005"]),
        ({"CC_BUS_TEST_KILL_AFTER_COMMIT": True}, ["bus.W002"]),
    ],
)
def test_bad_bus_settings_are_reported(overrides, expected):
    with override_settings(**overrides):
        assert ids(checks.check_bus_settings()) == expected


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_an_operator_publishes_a_command_and_a_one_shot_consumer_carries_it_out(bus_queue):
    out = io.StringIO()
    call_command(
        "publish_billing_command",
        "issue_invoice",
        "account_id=12",
        "period=2026-12",
        "amount=10.50",
        "--queue",
        bus_queue,
        "--message-id",
        "op-1",
        stdout=out,
    )
    assert out.getvalue().strip() == "op-1"
    call_command(
        "publish_billing_command",
        "refund",
        "--json",
        '{"invoice_number": "I-3", "amount": "2"}',
        "--queue",
        bus_queue,
        stdout=io.StringIO(),
    )

    out = io.StringIO()
    call_command(
        "consume_billing_commands", "--queue", bus_queue, "--max-messages", "5", "--idle-timeout", "1", stdout=out
    )

    assert "Handled 2 message(s): 2 processed, 0 duplicate, 0 retried, 0 dead_lettered." in out.getvalue()
    assert ProcessedMessage.objects.get(message_id="op-1").arguments == {
        "account_id": 12,
        "period": "2026-12",
        "amount": "10.50",
    }
    assert len(fixtures.effects()) == 2


@pytest.mark.parametrize(
    "args, error",
    [
        (["launch_rockets"], "not published: unknown command 'launch_rockets'"),
        (["subscribe", "account_id=x", "plan=p"], "argument 'account_id' must be int, got str"),
        (["subscribe", "account_id"], "'account_id' is not NAME=VALUE"),
        (["subscribe", "--json", "[1]"], "--json must be a JSON object"),
        (["subscribe", "--json", "{"], "--json is not JSON"),
    ],
)
def test_publishing_a_command_the_consumer_would_refuse_is_refused_at_once(bus_queue, args, error):
    declare(bus_queue)
    with pytest.raises(CommandError, match=error.replace("(", r"\(")):
        call_command("publish_billing_command", *args, "--queue", bus_queue)
    assert depth(bus_queue) == 0


@pytest.mark.parametrize("args", [["--max-messages", "0"], ["--idle-timeout", "0"]])
def test_the_consumer_refuses_meaningless_limits(args):
    with pytest.raises(CommandError):
        call_command("consume_billing_commands", *args)


def test_a_malformed_cc_signals_does_not_break_the_bus_checks():
    with override_settings(CC_SIGNALS=["not", "a", "dict"]):
        assert ids(checks.check_bus_commands()) == ["bus.W001"] * 4  # core.E001 reports the setting itself


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_an_operator_replays_a_dead_letter_after_the_fix_and_it_is_audited(bus_queue):
    publish(bus_queue, "refund", message_id="r-1", invoice_number="RETRY-1", amount="3")  # retries, then dead
    send_raw(b'{"command": "launch_rockets", "message_id": "p-2"}', queue=bus_queue)
    consume(bus_queue, max_messages=4, idle_timeout=5)
    dead = topology(bus_queue).dead_letter_queue.name
    assert depth(dead) == 2

    out = io.StringIO()
    call_command("replay_billing_dead_letters", "--queue", bus_queue, "--dry-run", stdout=out)
    assert "0 replayed, 2 left in the dead-letter queue." in out.getvalue()
    assert "left\trefund\tr-1\tgave up after 3 attempts" in out.getvalue()
    assert depth(dead) == 2 and not WorkAudit.objects.exists()

    out = io.StringIO()
    call_command(
        "replay_billing_dead_letters",
        "--queue",
        bus_queue,
        "--message-id",
        "r-1",
        "--actor",
        "ops",
        "--reason",
        "gateway fixed",
        stdout=out,
    )
    assert "1 replayed, 1 left in the dead-letter queue." in out.getvalue()
    assert depth(dead) == 1
    ((body, headers),) = drain(bus_queue)
    assert body["message_id"] == "r-1" and "x-cc-attempts" not in headers and "x-cc-replayed-at" in headers
    audit = WorkAudit.objects.get()
    assert (audit.item_type, audit.item_id, audit.action, audit.actor, audit.reason) == (
        "bus.message",
        "r-1",
        "replay",
        "ops",
        "gateway fixed",
    )
    assert "dead-lettered for: gave up after 3 attempts" in audit.outcome


def test_a_replay_needs_a_reason():
    with pytest.raises(CommandError, match="--reason is required"):
        call_command("replay_billing_dead_letters")


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_operators_see_processed_messages_in_the_admin_with_a_link_to_the_trace(staff_client, django_user_model):
    django_user_model.objects.filter(username="staff").update(is_superuser=True)
    ProcessedMessage.objects.create(
        message_id="adm-1", command="subscribe", arguments={"plan": "p"}, trace_id="ab" * 16
    )
    listing = staff_client.get("/admin/bus/processedmessage/")
    assert listing.status_code == 200
    assert b"adm-1" in listing.content and b'href="/core/traces/' + b"ab" * 16 + b'/"' in listing.content
    assert staff_client.get("/admin/bus/processedmessage/add/").status_code == 403  # a ledger: nobody writes it
