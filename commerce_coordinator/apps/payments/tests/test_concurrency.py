"""Duplicate deliveries in parallel (threads, each with its own MariaDB connection): one event, one signal."""

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .. import inbox
from ..models import WebhookEvent
from ..tasks import process_webhook_event
from .helpers import STRIPE_URL, payment_intent, stripe_event, stripe_signature

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]
THREADS = 8


@pytest.fixture(autouse=True)
def mysql_only():
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB/MySQL (run with DB_ENGINE=mysql)")


def _in_parallel(func, count=THREADS):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results.append(func(i))
        except Exception as exc:  # reported by the test, not lost in a thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_parallel_duplicate_deliveries_store_and_process_one_event_and_send_one_signal(calls):
    body = stripe_event(obj=payment_intent(pi_id="pi_parallel"), event_id="evt_parallel")
    signature = stripe_signature(body)

    def deliver(i):
        response = Client().post(
            STRIPE_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        return response.status_code, response.json()["status"]

    results = _in_parallel(deliver)
    assert [code for code, _ in results] == [200] * THREADS
    assert sorted(status for _, status in results) == ["duplicate"] * (THREADS - 1) + ["received"]
    event = WebhookEvent.objects.get()
    assert event.status == "done" and event.attempts == 1
    assert [kwargs["payment_id"] for _, kwargs in calls] == ["pi_parallel"]


def test_parallel_processing_tasks_of_one_event_send_one_signal(client, calls, monkeypatch):
    body = stripe_event(obj=payment_intent(pi_id="pi_tasks"), event_id="evt_tasks")
    # Store it without running its processing (as if the broker had been down).
    monkeypatch.setattr(inbox, "schedule", lambda event: None)
    client.post(STRIPE_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(body))
    event = WebhookEvent.objects.get()
    assert event.status == "pending"

    outcomes = _in_parallel(lambda i: process_webhook_event.apply(args=[event.pk]).get())
    assert [outcome.get("status") for outcome in outcomes].count("done") == 1  # the others: skipped
    event.refresh_from_db()
    assert event.status == "done" and event.attempts == 1
    assert len(calls) == 1
