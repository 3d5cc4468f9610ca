"""The model as it changes: the durable-work migration keeps every event and maps its status; a field added to
WebhookEvent is written by the webhook's INSERT (derived from the model), so adding one cannot break webhooks."""

import pytest
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .. import inbox
from ..models import WebhookEvent
from .helpers import payment_intent, post_stripe, stripe_event

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
BEFORE = [("payments", "0002_case_sensitive_ids_on_mysql")]
AFTER = [("payments", "0003_webhookevent_durable_work_item")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_durable_work_migration_keeps_the_events_and_maps_their_statuses():
    old = _migrate(BEFORE).get_model("payments", "WebhookEvent")
    now = timezone.now()
    rows = {
        "received": ("pending", None),
        "processing": ("running", None),
        "processed": ("done", now),
        "failed-retry": ("retry", None),
        "failed": ("failed", None),
        "ignored": ("ignored", None),
    }
    for name in rows:
        old.objects.create(
            provider="stripe",
            event_id=f"evt_{name}",
            type="payment_intent.succeeded",
            payload={"id": f"evt_{name}"},
            status=name.split("-")[0],
            next_attempt_at=now if name == "failed-retry" else None,
            task_id="task-1",
            trace_id="t" * 32,
            received_at=now,
            processed_at=now if name == "processed" else None,
            updated_at=now,
        )
    try:
        new = _migrate(AFTER).get_model("payments", "WebhookEvent")
        for name, (status, finished) in rows.items():
            event = new.objects.get(event_id=f"evt_{name}")
            assert event.status == status, name
            assert (event.claim_token, event.created_at, event.finished_at) == ("task-1", now, finished)
            assert event.payload == {"id": f"evt_{name}"} and event.metadata_override == {}
        assert new.objects.get(event_id="evt_processing").claimed_at == now
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def extra_field():
    """A nullable field added to WebhookEvent (and its column to the table), as a future migration would."""
    field = models.CharField(max_length=40, null=True, blank=True)
    field.contribute_to_class(WebhookEvent, "operator_note")
    with connection.schema_editor() as editor:
        editor.add_field(WebhookEvent, field)
    inbox._layouts.clear()
    yield field
    with connection.schema_editor() as editor:
        editor.remove_field(WebhookEvent, field)
    WebhookEvent._meta.local_fields.remove(field)
    WebhookEvent._meta._expire_cache()
    delattr(WebhookEvent, "operator_note")
    inbox._layouts.clear()


def test_adding_a_nullable_field_to_webhook_event_keeps_the_webhook_path_working(client, calls, extra_field):
    sql, readers = inbox.insert_layout(connection)
    assert connection.ops.quote_name("operator_note") in sql and ("operator_note", None) in readers
    response = post_stripe(client, stripe_event(obj=payment_intent(pi_id="pi_field"), event_id="evt_field"))
    assert response.status_code == 200 and response.json()["status"] == "received"
    event = WebhookEvent.objects.get(event_id="evt_field")
    assert event.operator_note is None and event.status == "done" and len(calls) == 1


def test_the_insert_writes_every_concrete_field_but_the_primary_key():
    sql, readers = inbox.insert_layout(connection)
    names = [f.attname for f in WebhookEvent._meta.concrete_fields if f.attname != "id"]
    assert [attname for attname, _ in readers] == names
    assert sql.count("%s") == len(names)
