"""The demo endpoints show a whole send: statuses, the failing receiver's traceback, the trace id."""

import logging

import pytest
from waffle.testutils import override_switch

from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_test_signal_shows_one_success_and_one_failure(client, caplog):
    caplog.set_level(logging.INFO)
    body = client.get("/demo_lms/test/").json()
    ok, failed = body["receivers"]
    assert ok["status"] == "ok" and ok["value"] == "received 'hello'"
    assert failed["status"] == "error"
    assert failed["error"]["type"] == "ValueError" and "Traceback" in failed["error"]["traceback"]
    assert len(body["trace_id"]) == 32
    assert "test_receiver called by <class 'commerce_coordinator.apps.demo_lms.views.TestSignalView'>" in caplog.text
    assert TraceNode.objects.filter(trace_id=body["trace_id"]).count() == 3


def test_test_celery_signal_shows_the_task_queued(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = client.get("/demo_lms/test_celery_signal/").json()
    [queued] = body["receivers"]
    assert queued["status"] == "queued" and queued["task_id"]
    assert TraceNode.objects.get(trace_id=body["trace_id"], kind="task").status == "ok"


def test_demo_purchase_complete_is_a_tree_two_sends_deep(client):
    with override_switch("demo_lms.send_confirmation_email", active=True):
        body = client.get("/demo_lms/demo_purchase_complete/?course_run_keys=a,b,c").json()
    assert [r["status"] for r in body["receivers"]] == ["ok", "ok", "ok"]
    assert body["receivers"][2]["value"] == {"enrollments_requested": 3, "all_ok": True}
    nodes = {n.id: n for n in TraceNode.objects.filter(trace_id=body["trace_id"])}
    nested_sends = [n for n in nodes.values() if n.kind == "send" and n.parent_id]
    assert len(nested_sends) == 3
    assert all(nodes[s.parent_id].name.endswith("demo_purchase_complete_enroll_in_course") for s in nested_sends)


def test_demo_endpoints_are_not_mounted_without_debug_or_the_setting(settings):
    import importlib

    from django.urls import clear_url_caches

    import commerce_coordinator.urls as urls

    settings.DEBUG = False
    settings.CC_DEMO_ENDPOINTS_ENABLED = False
    try:
        importlib.reload(urls)
        assert not any(str(p.pattern) == "demo_lms/" for p in urls.urlpatterns)
    finally:
        settings.CC_DEMO_ENDPOINTS_ENABLED = True
        importlib.reload(urls)
        clear_url_caches()
    assert any(str(p.pattern) == "demo_lms/" for p in urls.urlpatterns)
