"""The publish relay: batching, flush at exit, fork safety; the batch task; recovery by the sweep when the relay
never published; the embedded (eager) mode unchanged."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .. import inbox, relay
from ..models import WebhookEvent
from ..tasks import process_webhook_event, process_webhook_events
from . import receivers
from .conftest import RECORDERS
from .helpers import payment_intent, post_stripe, stripe_event

FLAKY = "commerce_coordinator.apps.payments.tests.receivers.flaky"
SUCCEEDED = "commerce_coordinator.apps.payments.signals.payment_succeeded"


class Recorder:
    def __init__(self, fail_first: int = 0):
        self.batches: list[list] = []
        self.fail_first = fail_first
        self.done = threading.Event()

    def __call__(self, batch):
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("broker down")
        self.batches.append(list(batch))
        self.done.set()

    @property
    def items(self):
        return [item for batch in self.batches for item in batch]


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


# --- the relay itself (no database) ---------------------------------------------------------------


def test_the_relay_publishes_a_burst_as_few_batches_each_item_once():
    publish = Recorder()
    r = relay.Relay(publish, window=0.05, max_batch=40)
    for i in range(100):
        r.submit((i, f"t{i}", True))
    assert _wait(lambda: len(publish.items) == 100)
    assert publish.items == [(i, f"t{i}", True) for i in range(100)]  # in order, none twice
    assert len(publish.batches) <= 4 and max(len(b) for b in publish.batches) <= 40
    r.stop(flush=False)


def test_a_refused_publish_is_logged_and_the_next_batch_still_goes(caplog):
    publish = Recorder(fail_first=1)
    r = relay.Relay(publish, window=0.0)
    r.submit((1, "a", False))
    assert _wait(lambda: "the sweep will enqueue them" in caplog.text)
    r.submit((2, "b", False))
    assert _wait(lambda: publish.items == [(2, "b", False)])  # event 1 is left to the sweep
    r.stop(flush=False)


def test_pending_items_are_flushed_at_exit(monkeypatch):
    publish = Recorder()
    r = relay.Relay(publish, window=60.0)  # the thread would wait a minute
    monkeypatch.setattr(relay, "_relay", r)
    r.submit((7, "x", True))
    assert _wait(lambda: r._thread is not None and r._thread.is_alive())
    assert publish.items == []
    relay._flush_at_exit()
    assert publish.items == [(7, "x", True)] and r.pending() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_empty_with_its_own_thread():
    publish = Recorder()
    r = relay.Relay(publish, window=60.0)
    r.submit((1, "parent", True))  # pending in the parent, its thread waiting
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's pending item is not its own; a new item is published by a new thread
        try:
            ok = r.pending() == 0 and r._thread is None
            r.window = 0.0
            r.submit((2, "child", True))
            ok = ok and _wait(lambda: publish.items == [(2, "child", True)])
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert r.pending() == 1  # the parent's item is still the parent's
    r.stop(flush=True)
    assert publish.items == [(1, "parent", True)]


# --- with the database ----------------------------------------------------------------------------


@pytest.fixture
def with_broker(monkeypatch):
    """Make the inbox believe a real broker is configured, with the relay's publishing recorded, not sent."""
    publish = Recorder()
    r = relay.Relay(publish, window=0.0)
    monkeypatch.setattr(inbox, "_eager", lambda: False)
    monkeypatch.setattr(relay, "get_relay", lambda: r)
    yield publish
    r.stop(flush=False)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_with_a_broker_the_view_hands_events_to_the_relay_after_commit(client, calls, on_commit, with_broker):
    for n in range(3):
        response = on_commit(
            post_stripe, client, stripe_event(obj=payment_intent(pi_id=f"pi_r{n}"), event_id=f"evt_r{n}")
        )
        assert response.status_code == 200
    assert _wait(lambda: len(with_broker.items) == 3)
    events = list(WebhookEvent.objects.order_by("pk").values_list("pk", "trace_id", "status"))
    assert [item[:2] for item in with_broker.items] == [(pk, trace_id) for pk, trace_id, _ in events]
    assert {status for _, _, status in events} == {"received"} and calls == []  # processing is the worker's

    # The worker runs the batch task: each event processed once, under its own trace.
    result = process_webhook_events.apply(args=[[list(item) for item in with_broker.items]], task_id="batch-1")
    assert sorted(result.get().values()) == ["processed"] * 3
    assert sorted(k["payment_id"] for _, k in calls) == ["pi_r0", "pi_r1", "pi_r2"]
    for _, trace_id, _ in events:
        task = TraceNode.objects.get(trace_id=trace_id, kind="task")
        assert task.name.endswith("process_webhook_events") and task.status == "ok" and task.task_id == "batch-1"
        assert TraceNode.objects.filter(trace_id=trace_id, kind="send", name=SUCCEEDED, parent_id=task.id).exists()

    # A redelivered batch (same task id) or a duplicate message claims nothing that is finished.
    again = process_webhook_events.apply(args=[[list(item) for item in with_broker.items]], task_id="batch-2")
    assert all(outcome.startswith("not claimed") for outcome in again.get().values())
    assert len(calls) == 3


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_events_the_relay_never_published_are_processed_by_the_sweep(client, calls, settings, on_commit, monkeypatch):
    dead = Recorder()
    r = relay.Relay(dead, window=60.0)  # the process dies before the relay's window ends: nothing is published
    monkeypatch.setattr(inbox, "_eager", lambda: False)
    monkeypatch.setattr(relay, "get_relay", lambda: r)
    for n in range(2):
        on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id=f"pi_lost{n}"), event_id=f"evt_lost{n}"))
    r._stopped = True  # the process is gone: no flush
    r._items.clear()
    assert dead.items == [] and set(WebhookEvent.objects.values_list("status", flat=True)) == {"received"}

    assert on_commit(inbox.sweep) == []  # not yet: younger than PAYMENTS_SWEEP_AFTER
    WebhookEvent.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.PAYMENTS_SWEEP_AFTER + 1))
    monkeypatch.undo()  # the sweep runs in the embedded (eager) mode here
    swept = on_commit(inbox.sweep)
    assert len(swept) == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert sorted(k["payment_id"] for _, k in calls) == ["pi_lost0", "pi_lost1"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_retryable_failure_in_a_batch_is_retried_alone_and_the_batch_goes_on(client, calls, settings, monkeypatch):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [*RECORDERS[SUCCEEDED], FLAKY]}
    receivers.FAILURES.update(remaining=1, retryable=True)  # the first send fails, retryably
    for n in range(2):
        post_stripe(client, stripe_event(obj=payment_intent(pi_id=f"pi_b{n}"), event_id=f"evt_b{n}"))
    first, second = WebhookEvent.objects.order_by("pk")
    sent = []
    monkeypatch.setattr(process_webhook_event, "apply_async", lambda *a, **kw: sent.append(kw))
    result = process_webhook_events.apply(args=[[[first.pk, first.trace_id, True], [second.pk, second.trace_id, True]]])
    outcomes = result.get()
    assert outcomes[first.pk].startswith("retry in") and outcomes[second.pk] == "processed"
    [retry] = sent
    assert retry["args"] == [first.pk] and retry["retries"] == 1 and retry["headers"]["cc_trace_id"] == first.trace_id
    first.refresh_from_db()
    assert first.status == "failed" and first.next_attempt_at is not None  # the sweep would retry it too
    monkeypatch.undo()
    process_webhook_event.apply(args=[first.pk], retries=1)
    first.refresh_from_db()
    assert first.status == "processed" and first.attempts == 2


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_the_embedded_eager_mode_processes_at_once_without_the_relay(client, calls, on_commit, monkeypatch):
    def no_relay():
        raise AssertionError("the relay is for a real broker only")

    monkeypatch.setattr(relay, "get_relay", no_relay)
    response = on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_eager"), event_id="evt_eager"))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed" and [k["payment_id"] for _, k in calls] == ["pi_eager"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_the_stored_payload_is_the_verified_body(client):
    body_event = stripe_event(obj=payment_intent(pi_id="pi_raw"), event_id="evt_raw")
    post_stripe(client, body_event)
    event = WebhookEvent.objects.get()
    assert event.payload["data"]["object"]["id"] == "pi_raw" and event.payload["id"] == "evt_raw"
    assert event.received_at == event.updated_at and event.attempts == 0 and event.task_id == ""
