"""The console's pages and actions through Django's test client (the browser tests drive the same pages)."""

import pytest
from django.test import Client
from django.urls import reverse

from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms.models import OrderLine, Work

from .conftest import COURSE_A, COURSE_B

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def refused_order(pay, fake_lms, number="CON-1"):
    """An order whose first line the LMS refused (400: not retried, dead-lettered at once)."""
    fake_lms.then(400)
    paid = pay(number)
    assert paid.order.lines.get(course_run_key=COURSE_A).state == OrderLine.State.FAILED
    return paid


PAGES = ["console:search", "console:attention", "console:signals"]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_the_admin_login(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


@pytest.mark.parametrize("page", PAGES)
def test_a_logged_in_user_who_is_not_staff_gets_403(client, plain_user, page):
    client.force_login(plain_user)
    assert client.get(reverse(page)).status_code == 403


def test_a_non_staff_post_is_refused_and_changes_nothing(client, plain_user, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    client.force_login(plain_user)
    line = paid.order.lines.get(course_run_key=COURSE_A)
    response = client.post(reverse("console:retry-line", args=[line.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert not WorkAudit.objects.exists()


@pytest.mark.parametrize(
    "term, key",
    [
        ("CON-1", "order number"),
        ("pi_CON-1", "payment id"),
        ("4242", "LMS user id"),
        ("evt_CON-1", "event id"),
    ],
)
def test_search_recognises_each_key_and_jumps_to_the_one_order(staff, pay, term, key):
    pay("CON-1")
    response = staff.get(reverse("console:search"), {"q": term})
    assert response.status_code == 302, key
    assert response["Location"] == reverse("console:order", args=["CON-1"])


def test_search_by_trace_id_jumps_to_the_trace(staff, pay):
    paid = pay("CON-1")
    [trace_id] = paid.order.trace_ids
    response = staff.get(reverse("console:search"), {"q": trace_id})
    assert response["Location"] == reverse("console:trace", args=[trace_id])


def test_search_lists_several_orders_of_one_user_with_what_matched(staff, pay):
    pay("CON-1")
    pay("CON-2")
    response = staff.get(reverse("console:search"), {"q": "4242"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "CON-1" in body and "CON-2" in body and "LMS user id" in body


def test_search_that_finds_nothing_says_so(staff, db):
    response = staff.get(reverse("console:search"), {"q": "NOPE-404"})
    assert response.status_code == 200
    assert "Nothing matches" in response.content.decode()


def test_case_page_shows_the_refused_line_with_the_lms_message_and_its_events_and_traces(staff, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    response = staff.get(reverse("console:order", args=[paid.number]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "scripted 400" in body  # what the LMS answered
    assert "Enrollment failed" in body and "Enrolled" in body
    assert "evt_CON-1" in body and "payment_intent.succeeded" in body
    assert reverse("console:trace", args=[paid.order.trace_ids[0]]) in body
    assert 'id="retry-order"' in body
    assert 'hx-trigger="every' not in body  # nothing moving: no polling


def test_retry_without_a_reason_is_refused_with_400(staff, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    line = paid.order.lines.get(course_run_key=COURSE_A)
    response = staff.post(reverse("console:retry-line", args=[line.pk]), {"reason": "  "})
    assert response.status_code == 400
    line.refresh_from_db()
    assert line.status == Work.FAILED and not WorkAudit.objects.exists()


def test_retry_line_fulfils_once_the_lms_accepts_and_writes_the_audit_row(staff, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    line = paid.order.lines.get(course_run_key=COURSE_A)
    response = staff.post(reverse("console:retry-line", args=[line.pk]), {"reason": "LMS opened the run"}, follow=True)
    assert response.status_code == 200
    line.refresh_from_db()
    paid.order.refresh_from_db()
    assert line.state == OrderLine.State.FULFILLED and paid.order.status == "fulfilled"
    [audit] = WorkAudit.objects.all()
    assert (audit.actor, audit.action, audit.reason) == ("operator", "retry", "LMS opened the run")
    assert audit.item_type == "lms.orderline" and audit.item_id == str(line.pk)
    # The re-queued run is in the operator's trace, under the operator node.
    operator = TraceNode.objects.get(trace_id=audit.trace_id, kind="operator")
    assert operator.sender == "operator"
    assert TraceNode.objects.filter(trace_id=audit.trace_id, kind="task", name="lms.process_line").exists()
    body = response.content.decode()
    assert "LMS opened the run" in body and audit.trace_id[:10] in body


def test_retry_order_requeues_each_failed_line(staff, pay, fake_lms):
    fake_lms.then(400, times=2)
    paid = pay("CON-1")
    assert set(paid.order.lines.values_list("status", flat=True)) == {"failed"}
    staff.post(reverse("console:retry-order", args=[paid.number]), {"reason": "both runs fixed"})
    assert set(paid.order.lines.values_list("status", flat=True)) == {"done"}
    assert WorkAudit.objects.filter(action="retry").count() == 2


def test_replay_event_is_audited(staff, pay):
    paid = pay("CON-1")
    response = staff.post(reverse("console:replay-event", args=[paid.event.pk]), {"reason": "check idempotency"})
    assert response.status_code == 302
    [audit] = WorkAudit.objects.all()
    assert audit.action == "replay" and audit.item_type == "payments.webhookevent"
    assert "re-queued" in audit.outcome
    paid.event.refresh_from_db()
    assert paid.event.status == "done" and paid.event.attempts == 2


def test_post_without_csrf_token_is_refused(staff_user, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    line = paid.order.lines.get(course_run_key=COURSE_A)
    response = client.post(reverse("console:retry-line", args=[line.pk]), {"reason": "no token"})
    assert response.status_code == 403
    assert not WorkAudit.objects.exists()


def test_actions_are_post_only(staff, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    line = paid.order.lines.get(course_run_key=COURSE_A)
    assert staff.get(reverse("console:retry-line", args=[line.pk])).status_code == 405


def test_unknown_order_line_and_trace_are_404(staff, db):
    assert staff.get(reverse("console:order", args=["NOPE"])).status_code == 404
    assert staff.post(reverse("console:retry-line", args=[999999]), {"reason": "x"}).status_code == 404
    assert staff.get(reverse("console:trace", args=["0" * 32])).status_code == 404
    assert staff.get(reverse("console:trace", args=["not-a-trace"])).status_code == 404


def test_attention_groups_lines_that_failed_alike_and_bulk_retry_previews_then_acts(staff, pay, fake_lms):
    fake_lms.then(400, times=2)
    pay("CON-1", keys=[COURSE_A])
    pay("CON-2", keys=[COURSE_B])
    body = staff.get(reverse("console:attention")).content.decode()
    assert "Enrollment failed: HTTP 400 LMS answered" in body and "scripted 400" in body and "2 items" in body
    from commerce_coordinator.apps.console import queries

    [group] = [g for g in queries.attention() if g.kind == "lines"]
    preview = staff.get(reverse("console:bulk", args=[group.key]))
    assert "This will touch <strong>2</strong> items" in preview.content.decode()
    assert OrderLine.objects.filter(status="failed").count() == 2  # the preview did nothing
    ids = [str(item.pk) for item in group.items]
    staff.post(reverse("console:bulk", args=[group.key]), {"reason": "LMS back", "item": ids})
    assert OrderLine.objects.filter(status="done").count() == 2
    assert WorkAudit.objects.filter(reason="LMS back").count() == 2
    assert "ALL CLEAR" in staff.get(reverse("console:attention")).content.decode()


def test_trace_page_lists_every_node_with_status_text(staff, pay, fake_lms):
    paid = refused_order(pay, fake_lms)
    trace_id = paid.order.trace_ids[0]
    response = staff.get(reverse("console:trace", args=[trace_id]))
    body = response.content.decode()
    nodes = TraceNode.objects.filter(trace_id=trace_id)
    assert body.count('class="wf-row') == nodes.count()
    assert "lms.process_line" in body and ">OK<" in body
    assert reverse("console:order", args=[paid.number]) in body  # the business key links to the case page


def test_signals_page_has_the_map_source_and_loads_mermaid_only_there(staff, db):
    body = staff.get(reverse("console:signals")).content.decode()
    assert "flowchart LR" in body and "payments.signals.payment_succeeded" in body
    assert "mermaid.min.js" in body
    assert "mermaid.min.js" not in staff.get(reverse("console:attention")).content.decode()


def test_the_polling_fragment_is_served_to_htmx(staff, pay, fake_lms):
    paid = pay("CON-1")
    OrderLine.objects.filter(order=paid.order).update(status="pending")  # as while a task is under way
    full = staff.get(reverse("console:order", args=[paid.number])).content.decode()
    fragment = staff.get(reverse("console:order", args=[paid.number]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in full and "<html" in full
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment


def test_attention_lists_stalled_lines_failed_events_and_refunds_waiting_for_their_payment(staff, pay, settings):
    from datetime import timedelta

    from django.utils import timezone

    from commerce_coordinator.apps.console import queries
    from commerce_coordinator.apps.lms.models import Order
    from commerce_coordinator.apps.payments.models import WebhookEvent

    paid = pay("CON-1", keys=[COURSE_A])
    long_ago = timezone.now() - timedelta(seconds=settings.CC_DURABLE_STALLED_AFTER + 60)
    OrderLine.objects.filter(order=paid.order).update(status="pending", next_attempt_at=long_ago)
    WebhookEvent.objects.filter(pk=paid.event.pk).update(status="failed", next_attempt_at=None, last_error="boom")
    Order.objects.create(order_number="CON-REFUND", lms_user_id=1, status="refunded", refunded_at=timezone.now())
    titles = {g.title: g for g in queries.attention()}
    stalled = titles["Order lines stalled past the sweep time"]
    assert [line.order.order_number for line in stalled.items] == ["CON-1"]
    [failed] = [g for t, g in titles.items() if t.startswith("Failed webhook events, stripe payment_intent.succeeded")]
    assert [e.event_id for e in failed.items] == ["evt_CON-1"] and failed.action == "replay"
    refunds = titles["Refunds still waiting for their payment"]
    assert [o.order_number for o in refunds.items] == ["CON-REFUND"] and not refunds.action
    body = staff.get(reverse("console:attention")).content.decode()
    assert "CON-REFUND" in body and "evt_CON-1" in body
    assert staff.get(reverse("console:bulk", args=[refunds.key])).status_code == 404  # no bulk action there
    response = staff.post(reverse("console:bulk", args=[failed.key]), {"reason": "replay all", "item": [paid.event.pk]})
    assert response.status_code == 302
    assert WorkAudit.objects.get().action == "replay"
    assert WebhookEvent.objects.get(pk=paid.event.pk).status == "done"


def test_a_bulk_action_touches_only_previewed_items_still_in_the_group(staff, pay, fake_lms):
    from commerce_coordinator.apps.console import queries

    fake_lms.then(400, times=2)
    first = pay("CON-1", keys=[COURSE_A])
    pay("CON-2", keys=[COURSE_A])
    [group] = [g for g in queries.attention() if g.kind == "lines"]
    previewed = first.order.lines.get().pk
    staff.post(reverse("console:bulk", args=[group.key]), {"reason": "only the first", "item": [previewed, 999999]})
    assert OrderLine.objects.get(pk=previewed).status == "done"
    assert OrderLine.objects.get(order__order_number="CON-2").status == "failed"
    assert WorkAudit.objects.count() == 1


def test_a_trace_page_links_its_business_keys(staff, pay, fake_lms):
    from commerce_coordinator.apps.lms import operations

    fake_lms.then(400)
    pay("CON-1")
    [audit] = operations.retry_order("CON-1", actor="operator", reason="keys")
    body = staff.get(reverse("console:trace", args=[audit.trace_id])).content.decode()
    assert f'href="{reverse("console:order", args=["CON-1"])}"' in body
    assert f'href="{reverse("console:search")}?q=4242"' in body  # the LMS user id
    assert "operator" in body and "retry lms.enroll" in body


def test_a_bulk_action_refuses_item_ids_that_are_not_numbers(staff, pay, fake_lms):
    from commerce_coordinator.apps.console import queries

    fake_lms.then(400)
    pay("CON-1", keys=[COURSE_A])
    [group] = [g for g in queries.attention() if g.kind == "lines"]
    response = staff.post(reverse("console:bulk", args=[group.key]), {"reason": "x", "item": ["one"]})
    assert response.status_code == 400 and "Item ids must be numbers" in response.content.decode()
    assert staff.put(reverse("console:bulk", args=[group.key])).status_code == 405
    assert not WorkAudit.objects.exists()


def make_nodes(trace_id, *specs, t0=None):
    """Trace nodes written straight to the trace database: (id, parent, kind, name, status, seconds, extra),
    `seconds` after t0 (five minutes ago unless given, so that two calls can share one start)."""
    from datetime import timedelta

    from django.utils import timezone

    t0 = t0 or timezone.now() - timedelta(minutes=5)
    for node_id, parent, kind, name, status, at, extra in specs:
        TraceNode.objects.create(
            id=node_id.ljust(32, "0"),
            trace_id=trace_id,
            parent_id=parent.ljust(32, "0") if parent else None,
            kind=kind,
            name=name,
            status=status,
            started_at=t0 + timedelta(seconds=at),
            duration_ms=50,
            **extra,
        )
    return t0


def test_a_retried_task_shows_its_attempts_and_next_attempt_and_stops_polling_once_it_ran_again(staff, db):
    from datetime import timedelta

    trace_id = "ab" * 16
    retry = {"task_id": "t-1", "error_type": "RetryableError", "error_message": "LMS answered 503"}
    t0 = make_nodes(
        trace_id,
        ("a1", "", "send", "x.signals.paid", "ok", 0, {}),
        ("a2", "a1", "task", "lms.process_line", "retry", 1, retry),
    )
    body = staff.get(reverse("console:trace", args=[trace_id])).content.decode()
    assert ">RETRY<" in body and "attempt 1" in body and "LMS answered 503" in body
    assert "next attempt not scheduled" in body
    assert 'hx-trigger="every 2s"' in body  # the retry has not run again yet: the page refreshes itself
    make_nodes(trace_id, ("a3", "", "task", "lms.process_line", "ok", 30, {"task_id": "t-1"}), t0=t0)
    body = staff.get(reverse("console:trace", args=[trace_id])).content.decode()
    assert "attempt 2" in body
    assert f"next attempt {(t0 + timedelta(seconds=30)):%Y-%m-%d %H:%M:%S}" in body
    assert 'hx-trigger="every' not in body  # settled: no more polling


@pytest.mark.parametrize("term", ["9" * 40, "' OR 1=1 --", "%", "ü" * 300, "<script>alert(1)</script>"])
def test_search_never_fails_on_odd_input(staff, pay, term):
    pay("CON-1")
    response = staff.get(reverse("console:search"), {"q": term})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()  # shown escaped


def test_a_trace_found_by_two_keys_is_listed_once(staff, pay, fake_lms):
    from commerce_coordinator.apps.console import queries
    from commerce_coordinator.apps.lms import operations

    fake_lms.then(400)
    pay("4242", user="4242")  # an order number that is also the user's id: both keys name the operator's trace
    [audit] = operations.retry_order("4242", actor="operator", reason="twice")
    found = [m.record.trace_id for m in queries.search("4242").traces]
    assert found.count(audit.trace_id) == 1


def test_attention_lists_contract_manual_tasks_and_retries_them_in_bulk(staff):
    """A contract-backend call that was dead-lettered (a manual task) is shown and retried from the console."""
    from django.test import override_settings

    from commerce_coordinator.apps.console import queries
    from commerce_coordinator.apps.contracts import registry
    from commerce_coordinator.apps.contracts.models import ManualTask
    from commerce_coordinator.apps.contracts.plugins import PermanentError
    from commerce_coordinator.apps.contracts.tests import plugins
    from commerce_coordinator.apps.contracts.tests.conftest import BACKENDS
    from commerce_coordinator.apps.contracts.tests.test_lifecycle import new

    plugins.reset()
    registry._instance.cache_clear()
    with override_settings(CC_CONTRACT_BACKENDS=BACKENDS, CONTRACTS_BACKEND_RETRY_SCHEDULE=[0.01]):
        plugins.SCRIPT["alpha"] = [PermanentError("credentials expired", status_code=401)]
        contract = new("alpha")
        body = staff.get(reverse("console:attention")).content.decode()
        assert "Contract backend calls failed (manual tasks), alpha activate: credentials expired" in body
        [group] = [g for g in queries.attention() if g.kind == "manual"]
        staff.post(reverse("console:bulk", args=[group.key]), {"reason": "renewed", "item": [group.items[0].pk]})
        contract.refresh_from_db()
        assert not ManualTask.objects.exists() and contract.state == "active"
        assert WorkAudit.objects.filter(item_type="contracts.backendcall", reason="renewed").count() == 1
    registry._instance.cache_clear()
    plugins.reset()
