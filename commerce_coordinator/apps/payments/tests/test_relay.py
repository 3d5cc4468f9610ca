"""The publish relay: group commit (at once when idle, batched while busy), flush at exit, fork safety; the batch
task; recovery by the sweep when the relay
never published; a redelivered batch retakes its event; the embedded (eager) mode publishes at once."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from commerce_coordinator.apps.core import durable
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
    """A publish that records its batches; it can fail its first calls, take a while (a broker round trip), or
    hold its first call until `gate` is set (a publish in flight)."""

    def __init__(self, fail_first: int = 0, seconds: float = 0.0, hold_first: bool = False):
        self.batches: list[list] = []
        self.fail_first = fail_first
        self.seconds = seconds
        self.calls = 0
        self.gate = threading.Event()
        self.in_flight = threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 1:
            self.in_flight.set()
            self.gate.wait(10)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("broker down")
        time.sleep(self.seconds)
        self.batches.append(list(batch))

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
    publish = Recorder(seconds=0.005)  # each publish takes a broker round trip: the rest queue behind it
    r = relay.Relay(publish, max_batch=40)
    for i in range(100):
        r.submit((i, f"t{i}", True))
    assert _wait(lambda: len(publish.items) == 100)
    assert publish.items == [(i, f"t{i}", True) for i in range(100)]  # in order, none twice
    assert len(publish.batches) <= 5 and max(len(b) for b in publish.batches) <= 40
    r.stop(flush=False)


def test_an_item_that_finds_the_relay_idle_is_published_at_once():
    publish = Recorder()
    r = relay.Relay(publish, window=1.0)
    for i in range(2):  # a window apart: the relay is idle each time, and each item goes out alone, at once
        started = time.monotonic()
        r.submit((i, "t", True))
        assert _wait(lambda n=i + 1: len(publish.items) == n, timeout=5.0)
        assert time.monotonic() - started < 0.6  # not the window
        time.sleep(1.1)
    assert publish.batches == [[(0, "t", True)], [(1, "t", True)]]
    r.stop(flush=False)


def test_items_that_arrive_while_a_publish_is_in_flight_go_out_together_when_it_returns():
    publish = Recorder(hold_first=True)
    r = relay.Relay(publish, max_batch=100)
    r.submit((0, "first", True))
    assert publish.in_flight.wait(5)  # the first item is being published (at once: the relay was idle)
    for i in range(1, 8):
        r.submit((i, "queued", True))
    assert publish.batches == [] and r.pending() == 7
    publish.gate.set()  # the broker answers: the seven queued items are ONE next message
    assert _wait(lambda: len(publish.items) == 8)
    assert publish.batches == [[(0, "first", True)], [(i, "queued", True) for i in range(1, 8)]]
    r.stop(flush=False)


def test_items_within_a_window_of_the_last_publish_wait_and_go_together():
    publish = Recorder()
    r = relay.Relay(publish, window=0.5)
    r.submit((0, "a", True))
    assert _wait(lambda: len(publish.batches) == 1)  # idle: at once
    r.submit((1, "b", True))  # busy: the last publish began less than a window ago
    r.submit((2, "c", True))
    time.sleep(0.1)
    assert len(publish.batches) == 1 and r.pending() == 2
    assert _wait(lambda: len(publish.items) == 3)
    assert publish.batches == [[(0, "a", True)], [(1, "b", True), (2, "c", True)]]
    r.stop(flush=False)


def test_an_item_that_comes_long_after_the_one_before_goes_at_once_even_within_a_window():
    """A sparse stream (one order at a time) never waits for the window: it would gather nothing."""
    publish = Recorder()
    r = relay.Relay(publish, window=1.0)
    r.submit((0, "a", True))
    assert _wait(lambda: len(publish.batches) == 1)
    time.sleep(0.3)  # more than a quarter window after the item before, less than a window after its publish
    started = time.monotonic()
    r.submit((1, "b", True))
    assert _wait(lambda: len(publish.batches) == 2, timeout=5.0)
    assert time.monotonic() - started < 0.5  # not the rest of the window (0.7 s)
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
    publish = Recorder(hold_first=True)  # the broker is slow: items queue behind a publish in flight
    r = relay.Relay(publish)
    monkeypatch.setattr(relay, "_relay", r)
    r.submit((6, "w", True))
    assert publish.in_flight.wait(5)
    r.stop(flush=False)  # the thread will publish nothing more: only the exit flush can
    r.submit((7, "x", True))
    threading.Timer(0.1, publish.gate.set).start()  # the in-flight publish returns during the exit
    relay._flush_at_exit()
    assert publish.items == [(6, "w", True), (7, "x", True)] and r.pending() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_empty_with_its_own_thread():
    publish = Recorder(hold_first=True)
    r = relay.Relay(publish)
    r.submit((0, "parent", True))
    assert publish.in_flight.wait(5)  # the parent's thread is publishing item 0 ...
    r.submit((1, "parent", True))  # ... and item 1 is pending behind it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's pending item is not its own; a new item is published by a new thread
        try:
            ok = r.pending() == 0 and r._thread is None
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
    publish.gate.set()
    assert _wait(lambda: publish.items == [(0, "parent", True), (1, "parent", True)])
    r.stop(flush=False)


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
    assert {status for _, _, status in events} == {"pending"} and calls == []  # processing is the worker's

    # The worker runs the batch task: each event processed once, under its own trace.
    result = process_webhook_events.apply(args=[[list(item) for item in with_broker.items]], task_id="batch-1")
    assert [outcome["status"] for outcome in result.get().values()] == ["done"] * 3
    assert sorted(k["payment_id"] for _, k in calls) == ["pi_r0", "pi_r1", "pi_r2"]
    for _, trace_id, _ in events:
        task = TraceNode.objects.get(trace_id=trace_id, kind="task")
        assert task.name.endswith("process_webhook_events") and task.status == "ok" and task.task_id == "batch-1"
        work = TraceNode.objects.get(trace_id=trace_id, kind="work", parent_id=task.id)
        assert TraceNode.objects.filter(trace_id=trace_id, kind="send", name=SUCCEEDED, parent_id=work.id).exists()
        assert TraceNode.objects.get(trace_id=trace_id, parent_id=None).subject == "payment_intent.succeeded"

    # A redelivered batch (same task id) or a duplicate message claims nothing that is finished.
    for task_id in ("batch-1", "batch-2"):
        again = process_webhook_events.apply(args=[[list(item) for item in with_broker.items]], task_id=task_id)
        assert all("skipped" in outcome for outcome in again.get().values())
    assert len(calls) == 3


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_redelivered_batch_retakes_the_event_it_was_in_at_once(client, calls, with_broker):
    """Core's claim rule through the relay's batch task: the event its killed run held is running under the
    batch's id; the same message, redelivered, retakes it (no timeout) and goes on with the rest."""
    for n in range(2):
        post_stripe(client, stripe_event(obj=payment_intent(pi_id=f"pi_k{n}"), event_id=f"evt_k{n}"))
    first, second = WebhookEvent.objects.order_by("pk")
    assert WebhookEvent.claim(first.pk, "batch-killed") is not None  # the killed run was in the first event
    batch = [[first.pk, first.trace_id, True], [second.pk, second.trace_id, True]]
    outcomes = process_webhook_events.apply(args=[batch], task_id="batch-killed").get()
    assert [outcome["status"] for outcome in outcomes.values()] == ["done", "done"]
    first.refresh_from_db()
    assert first.attempts == 2 and sorted(k["payment_id"] for _, k in calls) == ["pi_k0", "pi_k1"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_events_the_relay_never_published_are_processed_by_the_sweep(client, calls, settings, on_commit, monkeypatch):
    dead = Recorder(hold_first=True)
    r = relay.Relay(dead)
    monkeypatch.setattr(inbox, "_eager", lambda: False)
    monkeypatch.setattr(relay, "get_relay", lambda: r)
    for n in range(2):
        on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id=f"pi_lost{n}"), event_id=f"evt_lost{n}"))
    assert dead.in_flight.wait(5)
    r._stopped = True  # the process dies during its first publish: nothing is published, no flush
    r._items.clear()
    dead.fail_first = 10**6
    dead.gate.set()
    assert dead.items == [] and set(WebhookEvent.objects.values_list("status", flat=True)) == {"pending"}

    assert on_commit(durable.sweep) == {}  # not yet: younger than CC_DURABLE_STALLED_AFTER
    WebhookEvent.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER + 1))
    monkeypatch.undo()  # the sweep runs in the embedded (eager) mode here
    assert on_commit(durable.sweep) == {"payments.webhookevent": 2}
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"done"}
    assert sorted(k["payment_id"] for _, k in calls) == ["pi_lost0", "pi_lost1"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_a_retryable_failure_in_a_batch_is_retried_alone_and_the_batch_goes_on(client, calls, settings, monkeypatch):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, SUCCEEDED: [*RECORDERS[SUCCEEDED], FLAKY]}
    receivers.FAILURES.update(remaining=1, retryable=True)  # the first send fails, retryably
    for n in range(2):
        post_stripe(client, stripe_event(obj=payment_intent(pi_id=f"pi_b{n}"), event_id=f"evt_b{n}"))
    first, second = WebhookEvent.objects.order_by("pk")
    sent = []
    monkeypatch.setattr(durable, "publish", lambda *args: sent.append(args))
    result = process_webhook_events.apply(args=[[[first.pk, first.trace_id, True], [second.pk, second.trace_id, True]]])
    outcomes = result.get()
    assert outcomes[first.pk].startswith("retry in") and outcomes[second.pk]["status"] == "done"
    [(model, pk, token, headers, countdown)] = sent  # handed to the event's own task, with a countdown
    assert model is WebhookEvent and pk == first.pk and countdown > 0 and headers["cc_trace_id"] == first.trace_id
    first.refresh_from_db()
    assert first.status == "retry" and first.claim_token == token and first.next_attempt_at is not None
    task = TraceNode.objects.get(trace_id=first.trace_id, kind="task")
    assert task.status == "retry"  # the trace says what happened: a retry is scheduled
    monkeypatch.undo()
    process_webhook_event.apply(args=[first.pk], task_id=token)
    first.refresh_from_db()
    assert first.status == "done" and first.attempts == 2


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_the_embedded_eager_mode_processes_at_once_without_the_relay(client, calls, on_commit, monkeypatch):
    def no_relay():
        raise AssertionError("the relay is for a real broker only")

    monkeypatch.setattr(relay, "get_relay", no_relay)
    response = on_commit(post_stripe, client, stripe_event(obj=payment_intent(pi_id="pi_eager"), event_id="evt_eager"))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "done" and [k["payment_id"] for _, k in calls] == ["pi_eager"]


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_the_stored_payload_is_the_verified_body(client):
    body_event = stripe_event(obj=payment_intent(pi_id="pi_raw"), event_id="evt_raw")
    post_stripe(client, body_event)
    event = WebhookEvent.objects.get()
    assert event.payload["data"]["object"]["id"] == "pi_raw" and event.payload["id"] == "evt_raw"
    assert event.created_at == event.updated_at and event.attempts == 0 and event.claim_token == ""
