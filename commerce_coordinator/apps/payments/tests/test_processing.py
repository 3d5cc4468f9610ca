"""The processing task, its claim, retries, the sweep, replays (command and admin)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .. import inbox
from ..models import WebhookEvent
from ..processing import Attempt, process
from ..tasks import process_webhook_event, sweep_webhook_events
from . import receivers
from .conftest import RECORDERS
from .helpers import payment_intent, post_stripe, stripe_event

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
FLAKY = "commerce_coordinator.apps.payments.tests.receivers.flaky"
SUCCEEDED = "commerce_coordinator.apps.payments.signals.payment_succeeded"


def _stored(client, event_id="evt_p", **pi):
    """An event stored as received, its processing not run (no on-commit callbacks in this test)."""
    response = post_stripe(client, stripe_event(obj=payment_intent(**pi), event_id=event_id))
    assert response.status_code == 200
    return WebhookEvent.objects.get(event_id=event_id)


def test_only_one_task_claims_an_event(client, calls):
    event = _stored(client)
    assert inbox.claim(event.pk, "task-a") is True
    assert inbox.claim(event.pk, "task-b") is False  # a duplicate delivery under another task id
    assert inbox.claim(event.pk, "task-a") is True  # the broker redelivered the same task (worker lost)
    assert process(event.pk, Attempt("task-b")).startswith("not claimed")
    assert calls == []


def test_a_processed_event_is_not_processed_again(client, calls):
    event = _stored(client)
    assert process(event.pk, Attempt("t1")) == "processed"
    assert process(event.pk, Attempt("t2")).startswith("not claimed")
    process_webhook_event.apply(args=[event.pk])
    assert len(calls) == 1


def test_stale_processing_is_claimed_by_another_task(client, calls, settings):
    event = _stored(client)
    assert inbox.claim(event.pk, "lost-worker")
    WebhookEvent.objects.filter(pk=event.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.PAYMENTS_PROCESSING_TIMEOUT + 1)
    )
    assert process(event.pk, Attempt("rescuer")) == "processed"
    event.refresh_from_db()
    assert event.attempts == 2 and len(calls) == 1


def test_a_retryable_receiver_error_is_retried_until_it_succeeds(client, calls, settings, monkeypatch):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY, *RECORDERS[SUCCEEDED]]}
    receivers.FAILURES.update(remaining=2, retryable=True)
    monkeypatch.setattr(process_webhook_event, "max_retries", 3)
    event = _stored(client)
    process_webhook_event.apply(args=[event.pk])  # eager: Celery's retries run at once
    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 3 and event.next_attempt_at is None
    # The failed sends were rolled back and sent again; the recorder saw every send.
    assert len(calls) == 3


def test_retries_are_exponential_with_jitter():
    assert process_webhook_event.acks_late and process_webhook_event.reject_on_worker_lost
    assert process_webhook_event.retry_backoff and process_webhook_event.retry_jitter
    assert process_webhook_event.autoretry_for


def test_a_retryable_error_that_persists_ends_failed(client, calls, settings, monkeypatch):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    receivers.FAILURES.update(remaining=10, retryable=True)
    monkeypatch.setattr(process_webhook_event, "max_retries", 2)
    event = _stored(client)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == "failed" and event.next_attempt_at is None and event.attempts == 3
    assert "RetryableError: the LMS answered 503" in event.last_error


def test_a_non_retryable_error_fails_at_once(client, calls, settings):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    receivers.FAILURES.update(remaining=1, retryable=False)
    event = _stored(client)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 1 and event.next_attempt_at is None
    assert "ValueError: the LMS answered 400" in event.last_error and "tests.receivers.flaky" in event.last_error


def test_sweep_re_enqueues_old_received_and_stale_processing_events(client, calls, settings, on_commit):
    old = _stored(client, "evt_old", pi_id="pi_old")
    fresh = _stored(client, "evt_fresh", pi_id="pi_fresh")
    stuck = _stored(client, "evt_stuck", pi_id="pi_stuck")
    inbox.claim(stuck.pk, "killed-worker")
    long_ago = timezone.now() - timedelta(seconds=settings.PAYMENTS_PROCESSING_TIMEOUT + 5)
    WebhookEvent.objects.filter(pk__in=[old.pk, stuck.pk]).update(updated_at=long_ago)

    assert on_commit(sweep_webhook_events.apply).get() == 2
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {"evt_old": "processed", "evt_fresh": "received", "evt_stuck": "processed"}
    assert sorted(kwargs["payment_id"] for _, kwargs in calls) == ["pi_old", "pi_stuck"]
    assert fresh.pk not in inbox.sweep()


def test_sweep_is_scheduled_by_celery_beat(settings):
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("sweep_webhook_events")]
    assert entry["schedule"] == settings.PAYMENTS_SWEEP_INTERVAL


def _failed(client, event_id, **pi):
    event = _stored(client, event_id, **pi)
    WebhookEvent.objects.filter(pk=event.pk).update(status="failed", last_error="boom")
    return event


def test_replay_command_replays_failed_events_and_prints_them(client, calls, on_commit):
    _failed(client, "evt_f1", pi_id="pi_1")
    _failed(client, "evt_f2", pi_id="pi_2")
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--status", "failed", stdout=out)
    text = out.getvalue()
    assert "stripe:evt_f1 payment_intent.succeeded: replayed (was failed)" in text
    assert "stripe:evt_f2" in text and "Replayed 2 of 2" in text
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert len(calls) == 2


def test_replay_needs_force_for_processed_events(client, calls, on_commit):
    event = _stored(client, "evt_done")
    process(event.pk, Attempt("t"))
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--id", "evt_done", stdout=out)
    assert "skipped: processed (use --force)" in out.getvalue() and len(calls) == 1
    out = StringIO()
    on_commit(call_command, "replay_webhook_events", "--id", str(event.pk), "--force", stdout=out)
    assert "replayed (was processed)" in out.getvalue()
    assert len(calls) == 2


def test_replay_filters_by_type_and_since(client, calls, on_commit):
    old = _failed(client, "evt_old_f", pi_id="pi_a")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
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
    assert event.status == "processed" and len(calls) == 1


def test_receiver_errors_are_stored_without_e_mails_or_card_numbers(client, calls, settings, monkeypatch):
    from . import receivers as test_receivers

    def leaky(sender, **kwargs):
        raise ValueError("LMS refused learner@example.org, card 4000056655665556")

    monkeypatch.setattr(test_receivers, "flaky", leaky)
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [FLAKY]}
    event = _stored(client, "evt_leak")
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == "failed"
    assert "learner@example.org" not in event.last_error and "4000056655665556" not in event.last_error
    assert "[e-mail]" in event.last_error


def test_broker_down_at_receipt_the_event_is_acknowledged_kept_and_swept_later(
    client, calls, settings, on_commit, monkeypatch
):
    from ..tasks import process_webhook_event as task

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as m:
        m.setattr(task, "apply_async", broker_down)
        response = on_commit(
            post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_down"), event_id="evt_down")
        )
    assert response.status_code == 200 and response.json()["status"] == "received"
    event = WebhookEvent.objects.get()
    assert event.status == "received" and calls == []

    WebhookEvent.objects.filter(pk=event.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.PAYMENTS_SWEEP_AFTER + 1)
    )
    assert on_commit(inbox.sweep) == [event.pk]
    event.refresh_from_db()
    assert event.status == "processed" and [k["payment_id"] for _, k in calls] == ["pi_down"]


def test_the_event_trace_is_served_by_the_core(client, staff_client, calls, on_commit):
    on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_tr"), event_id="evt_tr"))
    event = WebhookEvent.objects.get()
    response = staff_client.get(f"/core/traces/{event.trace_id}/")
    assert response.status_code == 200
    assert "payment_succeeded" in response.content.decode()


def test_an_unexpected_error_is_recorded_not_left_in_processing(client, calls, monkeypatch):
    from .. import processing

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    event = _stored(client, "evt_bug")
    monkeypatch.setattr(processing, "_process_claimed", broken)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == "failed" and event.next_attempt_at is None and "KeyError" in event.last_error


def test_a_database_error_is_retried(client, calls, monkeypatch):
    from django.db import OperationalError

    from .. import processing

    real = processing._process_claimed
    failures = [OperationalError("(2006, 'MySQL server has gone away')")]

    def flaky_db(event, attempt):
        if failures:
            raise failures.pop()
        return real(event, attempt)

    event = _stored(client, "evt_db")
    monkeypatch.setattr(processing, "_process_claimed", flaky_db)
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 2 and len(calls) == 1
