"""The console in a real browser (Debian's Chromium through Playwright) against a live server and a fake LMS."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from commerce_coordinator.apps.core.models import TraceNode, WorkAudit
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms.models import OrderLine, Work

from .conftest import COURSE_A, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]


def search(page, live_server, term):
    page.goto(f"{live_server.url}/console/")
    page.fill("#search-box", term)
    page.press("#search-box", "Enter")


@pytest.mark.parametrize("key", ["order number", "payment id", "LMS user id", "event id", "trace id"])
def test_search_by_each_key_finds_the_order(staff_page, live_server, pay, key):
    paid = pay("CON-7", user="777")
    term = {
        "order number": "CON-7",
        "payment id": "pi_CON-7",
        "LMS user id": "777",
        "event id": "evt_CON-7",
        "trace id": paid.order.trace_ids[0],
    }[key]
    search(staff_page, live_server, term)
    if key == "trace id":  # a trace id opens the trace, whose business key links to the case page
        expect(staff_page).to_have_url(re.compile(r"/console/traces/[0-9a-f]{32}/$"))
        staff_page.click("a.key-link:text('CON-7')")
    expect(staff_page).to_have_url(f"{live_server.url}/console/orders/CON-7/")
    expect(staff_page.locator("h1")).to_contain_text("CON-7")


def test_refused_line_shows_the_lms_message_and_a_retry_ends_fulfilled_with_an_audit_row(
    staff_page, live_server, pay, fake_lms
):
    fake_lms.then(400)  # the LMS refuses the first line; it accepts everything after
    paid = pay("CON-8")
    line = paid.order.lines.get(course_run_key=COURSE_A)
    staff_page.goto(f"{live_server.url}/console/orders/CON-8/")
    row = staff_page.locator(f"#line-{line.pk}")
    expect(row).to_contain_text("scripted 400")  # what the LMS answered
    expect(row.locator(".line-status")).to_have_text("Enrollment failed")

    row.locator("button.retry-line").click()
    dialog = staff_page.locator("#reason-dialog")
    expect(dialog).to_be_visible()
    staff_page.click("#reason-confirm")  # no reason yet: the browser keeps the dialog open
    expect(dialog).to_be_visible()
    staff_page.fill("#reason-input", "Course run reopened by the LMS team (SUP-1)")
    staff_page.click("#reason-confirm")

    expect(row.locator(".line-status")).to_have_text("Enrolled")
    expect(staff_page.locator("h1 .badge")).to_have_text("Fulfilled")
    audit = staff_page.locator("#audit tbody tr").first
    expect(audit).to_contain_text("operator")
    expect(audit).to_contain_text("retry")
    expect(audit).to_contain_text("Course run reopened by the LMS team (SUP-1)")
    [row_in_db] = WorkAudit.objects.all()
    expect(audit).to_contain_text(row_in_db.trace_id[:10])
    assert OrderLine.objects.get(pk=line.pk).state == OrderLine.State.FULFILLED
    assert len(fake_lms.enroll_calls(COURSE_A)) == 2


def test_a_case_page_refreshes_itself_while_a_line_is_pending(staff_page, live_server, pay):
    paid = pay("CON-9")
    line = paid.order.lines.first()
    OrderLine.objects.filter(pk=line.pk).update(status="pending")  # as while its task is under way
    staff_page.goto(f"{live_server.url}/console/orders/CON-9/")
    expect(staff_page.locator(".polling")).to_be_visible()
    OrderLine.objects.filter(pk=line.pk).update(status="done")  # the task finished meanwhile
    expect(staff_page.locator(f"#line-{line.pk} .line-status")).to_have_text("Enrolled", timeout=8000)
    expect(staff_page.locator(".polling")).to_have_count(0)  # nothing moving: polling stopped


def test_the_refused_orders_trace_shows_the_failed_line_in_red_and_next_error_finds_it(
    staff_page, live_server, pay, fake_lms
):
    fake_lms.then(400)
    paid = pay("CON-11")
    staff_page.goto(f"{live_server.url}/console/traces/{paid.order.trace_ids[0]}/")
    expect(staff_page.locator(".summary .badge").first).to_have_text("ERROR")
    staff_page.click("#collapse-all")
    staff_page.click("#next-error")
    current = staff_page.locator("tr.wf-row.current")
    expect(current).to_be_visible()
    expect(current.locator(".badge")).to_have_text("ERROR")
    expect(current.locator(".badge")).to_have_css("background-color", "rgb(253, 226, 226)")
    expect(current.locator(".error-message")).to_contain_text("scripted 400")
    staff_page.click("#next-error")  # the second error node: the line's work span under its task run
    expect(staff_page.locator("tr.wf-row.current .error-message")).to_contain_text("scripted 400")
    expect(staff_page.locator("tr.wf-row[data-status='error']")).to_have_count(2)


def error_trace_id() -> str:
    """A trace with a failed receiver (with a traceback): the demo signal's receiver that always raises."""
    Client().get("/demo_lms/test/", {"message": "browser"})
    node = TraceNode.objects.filter(status="error", name__endswith="test_receiver_exception").latest("started_at")
    return node.trace_id


def test_waterfall_shows_the_error_in_red_with_its_traceback_after_a_click(staff_page, live_server):
    trace_id = error_trace_id()
    staff_page.goto(f"{live_server.url}/console/traces/{trace_id}/")
    error_row = staff_page.locator("tr.wf-row[data-status='error']").filter(has_text="test_receiver_exception")
    expect(error_row.locator(".badge")).to_have_text("ERROR")
    expect(error_row.locator(".badge")).to_have_css("color", "rgb(165, 14, 14)")
    expect(error_row.locator(".error-message")).to_contain_text("ValueError: test_receiver_exception always fails")
    traceback = error_row.locator("details.traceback pre")
    expect(traceback).to_be_hidden()
    error_row.locator("details.traceback summary").click()
    expect(traceback).to_be_visible()
    expect(traceback).to_contain_text("Traceback")


def test_waterfall_collapse_expand_and_next_error(staff_page, live_server):
    trace_id = error_trace_id()
    staff_page.goto(f"{live_server.url}/console/traces/{trace_id}/")
    rows = staff_page.locator("tr.wf-row")
    total = rows.count()
    assert total >= 3
    staff_page.click("#collapse-all")
    expect(staff_page.locator("tr.wf-row:visible")).to_have_count(1)  # only the root
    staff_page.click("#expand-level")
    children = TraceNode.objects.filter(trace_id=trace_id, parent_id__isnull=False).count()
    expect(staff_page.locator("tr.wf-row:visible")).to_have_count(1 + children)
    staff_page.click("#collapse-all")
    staff_page.click("#next-error")  # opens the way to the error and marks it
    current = staff_page.locator("tr.wf-row.current")
    expect(current).to_have_count(1)
    expect(current).to_be_visible()
    expect(current).to_have_attribute("data-status", "error")
    staff_page.click("#expand-all")
    expect(staff_page.locator("tr.wf-row:visible")).to_have_count(total)
    # One node's own toggle folds its subtree only.
    root = rows.first
    root.locator(".toggle").click()
    expect(staff_page.locator("tr.wf-row:visible")).to_have_count(1)
    root.locator(".toggle").click()
    expect(staff_page.locator("tr.wf-row:visible")).to_have_count(total)


def test_the_signal_map_renders_an_svg(staff_page, live_server):
    staff_page.goto(f"{live_server.url}/console/signals/")
    svg = staff_page.locator("#signal-diagram svg")
    expect(svg).to_be_visible(timeout=15_000)
    expect(svg).to_contain_text("payments.signals.payment_succeeded")
    expect(staff_page.locator("#routes")).to_contain_text("lms.receivers.fulfill_paid_order")


def test_a_non_staff_user_gets_403(page, live_server, plain_user):
    log_in(page, live_server, plain_user)
    response = page.goto(f"{live_server.url}/console/")
    assert response.status == 403


def test_an_anonymous_visitor_gets_the_admin_login(page, live_server):
    page.goto(f"{live_server.url}/console/attention/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/console/attention/$"))


def test_a_post_without_the_csrf_token_is_refused(staff_page, live_server, pay, fake_lms):
    fake_lms.then(400)
    paid = pay("CON-10")
    line = paid.order.lines.get(course_run_key=COURSE_A)
    staff_page.goto(f"{live_server.url}/console/orders/CON-10/")  # a real session, but no token in the POST
    response = staff_page.request.post(f"{live_server.url}/console/lines/{line.pk}/retry/", form={"reason": "forged"})
    assert response.status == 403
    assert OrderLine.objects.get(pk=line.pk).status == Work.FAILED
    assert not WorkAudit.objects.exists()
