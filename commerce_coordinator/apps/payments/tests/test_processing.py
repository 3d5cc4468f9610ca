"""Processing a stored event as a core durable work item: the claim rule, retries on core's policy, what
the trace says, core's sweep, replays (command with audit rows and corrected metadata, admin), retention."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import Trace, TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .. import tasks
from ..models import WebhookEvent
from ..tasks import process_webhook_event
from . import receivers
from .conftest import RECORDERS
from .helpers import payment_intent, post_stripe, stripe_event

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
FLAKY = "commerce_coordinator.apps.payments.tests.receivers.flaky"
SUCCEEDED = "commerce_coordinator.apps.payments.signals.payment_succeeded"
Status = WebhookEvent.Status


def _stored(client, event_id="evt_p", **pi):
    """An event stored as pending (received), its processing not run (no on-commit callbacks in this test)."""
    response = post_stripe(client, stripe_event(obj=payment_intent(**pi), event_id=event_id))
    assert response.status_code == 200 and response.json()["status"] == "received"
    return WebhookEvent.objects.get(event_id=event_id)


def _trace(event):
    return Trace.objects.with_status().get(trace_id=WebhookEvent.objects.get(pk=event.pk).trace_id)


def test_core_claim_rule_a_redelivered_task_retakes_its_event_and_no_other_task_can(client, calls):
    event = _stored(client)
    assert WebhookEvent.claim(event.pk, "task-a") is not None
    assert WebhookEvent.claim(event.pk, "task-b") is None  # a duplicate message under another task id
    again = WebhookEvent.claim(event.pk, "task-a")  # the broker redelivered the same task (worker lost)
    assert again is not None and again.attempts == 2 and again.status == Status.RUNNING
    assert process_webhook_event.apply(args=[event.pk], task_id="task-b").get()["skipped"].startswith("not claimed")
    assert calls == []


def test_a_processed_event_is_done_and_not_processed_again(client, calls):
    event = _stored(client)
    outcome = process_webhook_event.apply(args=[event.pk]).get()
    assert outcome["status"] == "done"
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.DONE and event.finished_at is not None and event.last_error == ""
    assert len(calls) == 1


def test_a_retryable_receiver_error_is_retried_on_the_payments_schedule_until_it_succeeds(client, calls, settings):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY, *RECORDERS[SUCCEEDED]]}
    settings.PAYMENTS_RETRY_SCHEDULE = [1, 1, 1]
    receivers.FAILURES.update(remaining=2, retryable=True)
    event = _stored(client)
    process_webhook_event.apply(args=[event.pk])  # eager: Celery's retries run at once
    event.refresh_from_db()
    assert event.status == Status.DONE and event.attempts == 3 and event.next_attempt_at is None
    assert len(calls) == 3  # the failed sends were rolled back and sent again


def test_a_retryable_error_that_persists_is_dead_lettered_with_the_reason_and_the_trace_is_error(
    client, calls, settings
):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    settings.PAYMENTS_RETRY_SCHEDULE = [1, 1]
    receivers.FAILURES.update(remaining=10, retryable=True)
    event = _stored(client)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.attempts == 3 and event.next_attempt_at is None
    assert "RetryableError: the LMS answered 503" in event.last_error and "retries exhausted" in event.last_error
    trace = _trace(event)
    assert trace.trace_status == "error"
    assert Trace.objects.with_status().with_trace_status("error").filter(trace_id=event.trace_id).exists()


def test_a_non_retryable_error_fails_at_once_and_the_trace_is_error_named_after_the_event_type(client, calls, settings):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    receivers.FAILURES.update(remaining=1, retryable=False)
    event = _stored(client, order="ORD-ERR", user="4242", pi_id="pi_err")
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.attempts == 1 and event.next_attempt_at is None
    assert "ValueError: the LMS answered 400" in event.last_error and "tests.receivers.flaky" in event.last_error
    trace = _trace(event)
    assert trace.trace_status == "error" and trace.title == "payment_intent.succeeded"
    found = Trace.objects.with_status()
    for key, value in [("payment_id", "pi_err"), ("event_id", "evt_p"), ("order_number", "ORD-ERR")]:
        assert found.with_key(key, value).filter(trace_id=event.trace_id).exists(), key
    assert found.with_key("lms_user_id", "4242").filter(trace_id=event.trace_id).exists()
    work = TraceNode.objects.get(trace_id=event.trace_id, kind="work")
    assert work.status == "error" and "the LMS answered 400" in work.error_message


def test_the_trace_of_a_processed_webhook_is_ok_and_found_by_its_keys(client, staff_client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_tr", order="ORD-TR"), event_id="evt_tr"))
    event = WebhookEvent.objects.get()
    assert _trace(event).trace_status == "ok" and _trace(event).title == "payment_intent.succeeded"
    for query in ("payment_id=pi_tr", "event=evt_tr", "order=ORD-TR", "user=42"):
        listing = staff_client.get(f"/core/traces/?{query}")
        assert listing.status_code == 200 and event.trace_id in listing.content.decode(), query
    response = staff_client.get(f"/core/traces/{event.trace_id}/")
    assert response.status_code == 200 and "payment_succeeded" in response.content.decode()


def test_core_sweep_re_enqueues_old_pending_and_stale_running_events(client, calls, settings, on_commit):
    _stored(client, "evt_old", pi_id="pi_old")
    fresh = _stored(client, "evt_fresh", pi_id="pi_fresh")
    stuck = _stored(client, "evt_stuck", pi_id="pi_stuck")
    WebhookEvent.claim(stuck.pk, "killed-worker")
    long_ago = timezone.now() - timedelta(seconds=settings.CC_DURABLE_RUNNING_TIMEOUT + 5)
    WebhookEvent.objects.filter(event_id="evt_old").update(updated_at=long_ago)
    WebhookEvent.objects.filter(pk=stuck.pk).update(claimed_at=long_ago)

    assert on_commit(durable.sweep) == {"payments.webhookevent": 2}
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {"evt_old": "done", "evt_fresh": "pending", "evt_stuck": "done"}
    assert sorted(kwargs["payment_id"] for _, kwargs in calls) == ["pi_old", "pi_stuck"]
    assert fresh.pk not in [e.pk for e in WebhookEvent.stalled()]


def test_the_old_sweep_task_runs_core_sweep_and_beat_runs_core_sweep_and_the_prune(client, calls, settings, on_commit):
    tasks_by_entry = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert tasks_by_entry["core-sweep-durable-work"] == "core.sweep_durable_work"
    assert tasks_by_entry["payments-prune-webhook-events"].endswith("payments.tasks.prune_webhook_events")
    assert "payments-sweep-webhook-events" not in tasks_by_entry  # core's sweep covers webhook events (ADR 0015)
    _stored(client, "evt_legacy", pi_id="pi_legacy")
    WebhookEvent.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER + 1))
    assert on_commit(tasks.sweep_webhook_events.apply).get() == {"payments.webhookevent": 1}
    assert WebhookEvent.objects.get().status == Status.DONE


def _failed(client, event_id, **pi):
    event = _stored(client, event_id, **pi)
    WebhookEvent.objects.filter(pk=event.pk).update(status="failed", last_error="boom")
    return event


def test_replay_command_replays_failed_events_prints_them_and_writes_audit_rows(client, calls, on_commit):
    _failed(client, "evt_f1", pi_id="pi_1")
    _failed(client, "evt_f2", pi_id="pi_2")
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--status", "failed", "--reason", "LMS fixed", stdout=out)
    text = out.getvalue()
    assert "stripe:evt_f1 payment_intent.succeeded: replayed (was failed)" in text
    assert "stripe:evt_f2" in text and "Replayed 2 of 2" in text
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}
    assert len(calls) == 2
    audits = WorkAudit.objects.filter(item_type="payments.webhookevent")
    assert audits.count() == 2 and {a.reason for a in audits} == {"LMS fixed"}
    assert all(a.action == "replay" and "replay_webhook_events" in a.actor for a in audits)


def test_replay_accepts_the_old_status_names_and_needs_force_for_processed_events(client, calls, on_commit):
    event = _stored(client, "evt_done")
    out = StringIO()
    call_command("replay_webhook_events", "--status", "received", "--dry-run", stdout=out)
    assert "would replay" in out.getvalue() and "(received)" in out.getvalue()
    process_webhook_event.apply(args=[event.pk])
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--id", "evt_done", stdout=out)
    assert "skipped: processed (use --force)" in out.getvalue() and len(calls) == 1
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--id", str(event.pk), "--force", stdout=out)
    assert "replayed (was processed)" in out.getvalue()
    assert len(calls) == 2


def test_replay_of_an_unknown_id_exits_non_zero_naming_it():
    with pytest.raises(CommandError, match="evt_nowhere"):
        call_command("replay_webhook_events", "--id", "evt_nowhere", stdout=StringIO())


@pytest.mark.parametrize("args", [["--set-metadata", "order_number=O-1"], ["--id", "1", "--set-metadata", "no-equals"]])
def test_corrected_metadata_needs_one_event_and_key_value_pairs(args):
    with pytest.raises(CommandError, match="--set-metadata"):
        call_command("replay_webhook_events", *args, stdout=StringIO())


def test_replay_filters_by_type_and_since(client, calls, on_commit):
    old = _failed(client, "evt_old_f", pi_id="pi_a")
    WebhookEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    _failed(client, "evt_new_f", pi_id="pi_b")
    out = StringIO()
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    on_commit(call_command, "replay_webhook_events", "--since", since, "--type", "payment_intent.succeeded", stdout=out)
    assert "evt_new_f" in out.getvalue() and "evt_old_f" not in out.getvalue()
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--type", "charge.refunded", stdout=out)
    assert "Replayed 0 of 0" in out.getvalue()
    assert [k["payment_id"] for _, k in calls] == ["pi_b"]


def test_admin_lists_filters_shows_payload_links_trace_and_replays(admin_client, client, calls, on_commit):
    event = _failed(client, "evt_admin", order="ORD-ADMIN")
    listing = admin_client.get(
        "/admin/payments/webhookevent/?status__exact=failed&provider__exact=stripe&type__exact=payment_intent.succeeded"
    )
    assert listing.status_code == 200 and b"evt_admin" in listing.content
    assert f"/console/traces/{event.trace_id}/".encode() in listing.content  # the console's waterfall
    assert b"type__exact=payment_intent.succeeded" in listing.content  # the type filter
    assert b"status__exact=unroutable" in listing.content  # unroutable events have their filter
    detail = admin_client.get(f"/admin/payments/webhookevent/{event.pk}/change/")
    assert detail.status_code == 200 and b"ORD-ADMIN" in detail.content
    response = on_commit(
        admin_client.post,
        "/admin/payments/webhookevent/",
        {"action": "replay_events", "_selected_action": [event.pk]},
        follow=True,
    )
    assert response.status_code == 200 and b"replayed (was failed)" in response.content
    event.refresh_from_db()
    assert event.status == Status.DONE and len(calls) == 1
    assert WorkAudit.objects.get(item_id=str(event.pk)).actor == "admin"


def test_receiver_errors_are_stored_without_e_mails_or_card_numbers(client, calls, settings, monkeypatch):
    def leaky(sender, **kwargs):
        raise ValueError("LMS refused learner@example.org, card 4000056655665556")

    monkeypatch.setattr(receivers, "flaky", leaky)
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    event = _stored(client, "evt_leak")
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert "learner@example.org" not in event.last_error and "4000056655665556" not in event.last_error
    assert "[e-mail]" in event.last_error


def test_broker_down_at_receipt_the_event_is_acknowledged_kept_and_swept_later(
    client, calls, settings, on_commit, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as m:
        m.setattr(process_webhook_event, "apply_async", broker_down)
        response = on_commit(
            post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_down"), event_id="evt_down")
        )
    assert response.status_code == 200 and response.json()["status"] == "received"
    event = WebhookEvent.objects.get()
    assert event.status == Status.PENDING and calls == []

    WebhookEvent.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER + 1))
    assert on_commit(durable.sweep) == {"payments.webhookevent": 1}
    event.refresh_from_db()
    assert event.status == Status.DONE and [k["payment_id"] for _, k in calls] == ["pi_down"]


def test_an_unexpected_error_is_recorded_not_left_running(client, calls, monkeypatch):
    def broken(event):
        raise KeyError("a bug")

    event = _stored(client, "evt_bug")
    monkeypatch.setattr(tasks, "process_event", broken)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.next_attempt_at is None and "KeyError" in event.last_error


def test_a_database_error_is_retried(client, calls, monkeypatch):
    from .. import processing

    real = processing.process_event
    failures = [OperationalError("(2006, 'MySQL server has gone away')")]

    def flaky_db(event):
        if failures:
            raise failures.pop()
        return real(event)

    event = _stored(client, "evt_db")
    monkeypatch.setattr(tasks, "process_event", flaky_db)  # core.retries: a database error is retryable
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == Status.DONE and event.attempts == 2 and len(calls) == 1


def test_payments_retryable_error_is_core_s(client):
    from commerce_coordinator.apps.core import retries

    from .. import exceptions

    assert exceptions.RetryableError is retries.RetryableError and exceptions.is_retryable is retries.is_retryable


# --- retention (issue 9, item 12) ----------------------------------------------------------------------------


def test_prune_deletes_old_finished_events_and_keeps_moving_and_recent_ones(client, calls, settings):
    settings.PAYMENTS_EVENT_RETENTION_DAYS = 30
    for event_id, status in [("evt_done", "done"), ("evt_ign", "ignored"), ("evt_unr", "unroutable")]:
        WebhookEvent.objects.filter(pk=_stored(client, event_id, pi_id=event_id).pk).update(status=status)
    waiting = _stored(client, "evt_wait", pi_id="pi_wait")  # still pending: never pruned
    recent = _stored(client, "evt_recent", pi_id="pi_recent")
    WebhookEvent.objects.filter(pk=recent.pk).update(status="done")
    WebhookEvent.objects.exclude(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=31))
    out = StringIO()
    call_command("prune_webhook_events", stdout=out)
    assert "Deleted 3 webhook event(s) older than 30 day(s)" in out.getvalue()
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {waiting.event_id, "evt_recent"}
    assert tasks.prune_webhook_events.apply().get() == 0
    with pytest.raises(CommandError):
        call_command("prune_webhook_events", "--days", "0")
