"""The whole purchase flow across apps: a signed Stripe webhook ends in one enrollment per line, in one trace.

Integration tests live outside the apps, so that no plugin app's tests import another plugin app.
"""

import pytest
from django.test import override_settings

from commerce_coordinator.apps.core.models import Trace, TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.lms.models import Order
from commerce_coordinator.apps.payments.tests.helpers import (
    STRIPE_SECRET,
    payment_intent,
    payments_worker,
    post_stripe,
    stripe_event,
)

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
A, B = "course-v1:edX+A+2026", "course-v1:edX+B+2026"


def test_signed_webhook_ends_in_one_enrollment_per_line_in_process(client, fake_lms):
    body = stripe_event(obj=payment_intent(pi_id="pi_T1", order="T-1", user="42", keys=f"{A},{B}"))
    with override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
        assert post_stripe(client, body).status_code < 300
        assert post_stripe(client, body).status_code < 300  # the same event delivered twice
    order = wait_until(lambda: Order.objects.filter(order_number="T-1", status="fulfilled").first(), timeout=10)
    assert (order.provider, order.payment_id) == ("stripe", "pi_T1")
    assert len(fake_lms.calls) == 2
    [trace_id] = order.trace_ids
    kinds = set(TraceNode.objects.filter(trace_id=trace_id).values_list("kind", "name"))
    assert ("task", "lms.process_lines") in kinds  # the order's two lines in one message
    assert ("send", "commerce_coordinator.apps.lms.signals.fulfillment_completed") in kinds
    # The lines' work spans carry the order's business keys: the trace is found by order and user.
    assert trace_id in Trace.objects.with_key("order_number", "T-1").values_list("trace_id", flat=True)
    assert trace_id in Trace.objects.with_key("lms_user_id", "42").values_list("trace_id", flat=True)


@pytest.mark.redis
def test_signed_webhook_to_enrollment_in_a_real_worker_in_one_trace_tree(client, fake_lms, monkeypatch):
    from django.conf import settings

    for name in ("LMS_URL_ROOT", "LMS_OAUTH_CLIENT_ID", "LMS_OAUTH_CLIENT_SECRET"):
        monkeypatch.setenv(name, getattr(settings, name))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
    with payments_worker(), override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
        body = stripe_event(obj=payment_intent(pi_id="pi_T2", order="T-2", user="43", keys=f"{A},{B}"))
        assert post_stripe(client, body).status_code < 300
        assert post_stripe(client, body).status_code < 300
        order = wait_until(lambda: Order.objects.filter(order_number="T-2", status="fulfilled").first(), timeout=40)
        [trace_id] = order.trace_ids
        completed = TraceNode.objects.filter(trace_id=trace_id, name__contains="fulfillment_completed")
        wait_until(completed.exists, timeout=20)
        nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=trace_id)}
        roots = set()
        for node in nodes.values():
            while node.parent_id in nodes:
                node = nodes[node.parent_id]
            roots.add((node.kind, node.name))
        # With a broker the payments relay publishes one process_webhook_events task per batch (ADR 10, 7).
        assert roots == {("task", "commerce_coordinator.apps.payments.tasks.process_webhook_events")}
        assert len(fake_lms.calls) == 2


def test_on_one_queue_the_orders_lines_run_in_the_webhooks_worker_after_its_event_in_one_trace(
    client, fake_lms, monkeypatch
):
    """ADR 0074: when the payments and LMS tasks share a queue, the lines stored by the webhook's processing run in
    the same worker after the event is finished, with no message of their own, traced as their batch task."""
    from django.conf import settings

    from commerce_coordinator.apps.payments.models import WebhookEvent

    for name in ("LMS_URL_ROOT", "LMS_OAUTH_CLIENT_ID", "LMS_OAUTH_CLIENT_SECRET"):
        monkeypatch.setenv(name, getattr(settings, name))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
    with payments_worker(one_queue=True), override_settings(STRIPE_WEBHOOK_SECRETS=[STRIPE_SECRET]):
        body = stripe_event(obj=payment_intent(pi_id="pi_T3", order="T-3", user="44", keys=f"{A},{B}"))
        assert post_stripe(client, body).status_code < 300
        assert post_stripe(client, body).status_code < 300  # delivered twice: still one enrollment per line
        order = wait_until(lambda: Order.objects.filter(order_number="T-3", status="fulfilled").first(), timeout=40)
        [trace_id] = order.trace_ids
        completed = TraceNode.objects.filter(trace_id=trace_id, name__contains="fulfillment_completed")
        wait_until(completed.exists, timeout=20)
    assert len(fake_lms.calls) == 2
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=trace_id)}
    [lines_run] = [n for n in nodes.values() if n.kind == "task" and n.name == "lms.process_lines"]
    assert lines_run.status == "ok" and lines_run.result.startswith("in place, in ")
    assert lines_run.task_id in (None, "")  # no message of its own: run by the webhook's task
    ancestors, node = [], lines_run
    while node.parent_id in nodes:
        node = nodes[node.parent_id]
        ancestors.append((node.kind, node.name))
    assert ancestors[-1] == ("task", "commerce_coordinator.apps.payments.tasks.process_webhook_events")
    event = WebhookEvent.objects.get(provider="stripe", payment_id="pi_T3")
    first_claim = min(line.claimed_at for line in order.lines.all())
    assert event.finished_at <= first_claim  # the event was finished (and committed) before its lines ran
