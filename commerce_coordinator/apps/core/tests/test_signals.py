"""CoordinatorSignal: argument checking, robust sending, statuses, switches and task receivers."""

import pytest
from django.db import transaction
from django.test import override_settings
from waffle.testutils import override_switch

from commerce_coordinator.apps.core import routing
from commerce_coordinator.apps.core.signals import SignalArgumentError, sender_label
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests import fixtures
from commerce_coordinator.apps.core.tests.fixtures import PREFIX, order_placed

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture(autouse=True)
def clear_calls():
    fixtures.CALLS.clear()
    yield
    fixtures.CALLS.clear()


def routes(*receivers, signal="order_placed"):
    return override_settings(CC_SIGNALS={PREFIX + signal: list(receivers)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"order_number": "A"}, "missing argument(s) count"),
        ({"order_number": "A", "count": 1, "extra": 2}, "undeclared argument(s) extra"),
        ({"order_number": "A", "count": "1"}, "argument 'count' must be int, got str"),
    ],
)
def test_send_rejects_arguments_that_do_not_match_the_declaration(kwargs, message):
    with (
        routes(PREFIX + "record"),
        pytest.raises(SignalArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")),
    ):
        order_placed.send("test", **kwargs)
    assert fixtures.CALLS == []


def test_a_tuple_of_types_accepts_any_of_them():
    with routes(PREFIX + "any_kwargs", signal="optional_signal"):
        assert fixtures.optional_signal.send("t", note=None).ok
        assert fixtures.optional_signal.send("t", note="x").ok
        with pytest.raises(SignalArgumentError, match="str or NoneType"):
            fixtures.optional_signal.send("t", note=3)


def test_one_receivers_exception_does_not_stop_the_others():
    with routes(PREFIX + "explode", PREFIX + "record"):
        result = order_placed.send("tester", order_number="A-1", count=3)
    failed, ok = result.results
    assert failed.status == "error" and isinstance(failed.error, RuntimeError)
    assert "receiver exploded on purpose" in failed.traceback
    assert ok.status == "ok" and ok.value == {"recorded": "A-1"}
    assert [c[0] for c in fixtures.CALLS] == ["explode", "record"]
    assert not result.ok
    assert len(result.trace_id) == 32
    data = result.as_dict()
    assert data["receivers"][0]["error"]["type"] == "RuntimeError"
    assert data["receivers"][1]["value"] == {"recorded": "A-1"}
    assert all(r["duration_ms"] >= 0 for r in data["receivers"])


def test_receivers_get_the_sender_and_the_declared_arguments():
    with routes(PREFIX + "record"):
        order_placed.send_robust("the-sender", order_number="B-2", count=1)
    assert fixtures.CALLS == [("record", "the-sender", "B-2", 1)]


def test_a_switched_receiver_is_skipped_while_its_switch_is_off():
    entry = {"receiver": PREFIX + "record", "switch": "demo_lms.send_confirmation_email"}
    with routes(entry):
        with override_switch("demo_lms.send_confirmation_email", active=False):
            [skipped] = order_placed.send("t", order_number="C", count=1).results
        with override_switch("demo_lms.send_confirmation_email", active=True):
            [ran] = order_placed.send("t", order_number="C", count=1).results
    assert skipped.status == "skipped" and "is off" in skipped.reason
    assert ran.status == "ok"
    assert len(fixtures.CALLS) == 1


def test_a_task_receiver_is_queued_and_runs_in_process_without_a_broker(django_capture_on_commit_callbacks):
    with routes(PREFIX + "record_task"), django_capture_on_commit_callbacks(execute=True):
        [queued] = order_placed.send("t", order_number="D", count=4).results
    assert queued.status == "queued" and queued.task_id
    assert fixtures.CALLS == [("record_task", "t", "D", 4)]


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_a_task_receiver_is_enqueued_only_when_the_transaction_commits():
    with routes(PREFIX + "record_task"):
        with transaction.atomic():
            order_placed.send("t", order_number="E", count=1)
            assert fixtures.CALLS == []
        assert fixtures.CALLS == [("record_task", "t", "E", 1)]
        fixtures.CALLS.clear()
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            order_placed.send("t", order_number="F", count=1)
            1 / 0  # noqa: B018
    assert fixtures.CALLS == []


def test_a_task_receiver_gets_its_queue():
    from commerce_coordinator.apps.core.routing import TaskRoute

    with routes({"receiver": PREFIX + "record_task", "queue": "fulfillment"}):
        [route] = order_placed.routes
    assert isinstance(route, TaskRoute) and route.queue == "fulfillment"


def test_connecting_in_code_is_refused_and_reported():
    signal = fixtures.nested_signal
    signal.connect(fixtures.record)
    try:
        plan = routing.analyse({PREFIX + "nested_signal": [PREFIX + "nested_receiver"]})
        errors = [p for p in plan.all_problems() if p.id.startswith("core.E")]
        assert [p.id for p in errors] == ["core.E011"]
        assert "record" in errors[0].msg
        with routes(PREFIX + "nested_receiver", signal="nested_signal"):
            signal.send("t", order_number="G")
        assert [c[0] for c in fixtures.CALLS] == ["nested_receiver"]  # the code-connected one never runs
    finally:
        signal.foreign_connections.clear()


def test_sender_label():
    assert sender_label(None) == ""
    assert sender_label("x") == "x"
    assert sender_label(SignalArgumentError) == "commerce_coordinator.apps.core.signals.SignalArgumentError"
    assert sender_label(object()) == "object"


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_a_receivers_database_error_rolls_back_only_its_own_work(django_user_model):
    django_user_model.objects.create(username="duplicate")
    with routes(PREFIX + "create_duplicate_user", PREFIX + "count_users"):
        with transaction.atomic():
            django_user_model.objects.create(username="order-owner")
            failed, counted = order_placed.send("t", order_number="R-1", count=1).results
    assert (failed.status, type(failed.error).__name__) == ("error", "IntegrityError")
    assert counted.status == "ok" and counted.value == 2
    assert django_user_model.objects.filter(username="order-owner").exists()  # the sender's work is kept


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_a_receiver_that_writes_nothing_runs_without_a_savepoint_and_its_failure_is_still_its_own():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with routes(PREFIX + "log_only", PREFIX + "log_then_explode", PREFIX + "count_users"):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            logged, exploded, counted = order_placed.send("t", order_number="W-1", count=1).results
    assert (logged.status, logged.value, exploded.status, counted.status) == ("ok", "logged", "error", "ok")
    savepoints = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1  # count_users' only: the two marked receivers had none


def test_a_failing_switch_lookup_fails_that_receiver_only(monkeypatch):
    import waffle

    def cache_down(name):
        raise ConnectionError("cache down")

    monkeypatch.setattr(waffle, "switch_is_active", cache_down)
    entry = {"receiver": PREFIX + "any_kwargs", "switch": "demo_lms.send_confirmation_email"}
    with routes(PREFIX + "record", entry, PREFIX + "explode"):
        statuses = [r.status for r in order_placed.send("t", order_number="S", count=1).results]
    assert statuses == ["ok", "error", "error"]
    assert [c[0] for c in fixtures.CALLS] == ["record", "explode"]


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_outside_a_transaction_a_broker_refusal_is_the_receivers_error(monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(fixtures.record_task, "apply_async", broker_down)
    with routes(PREFIX + "record_task"):
        result = order_placed.send("t", order_number="P", count=1)
    [failed] = result.results
    assert failed.status == "error" and isinstance(failed.error, ConnectionError) and not result.ok


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_the_queue_option_reaches_the_broker(monkeypatch):
    published = []
    monkeypatch.setattr(fixtures.record_task, "apply_async", lambda **options: published.append(options))
    with routes({"receiver": PREFIX + "record_task", "queue": "fulfillment"}):
        [queued] = order_placed.send("t", order_number="Q", count=2).results
    [options] = published
    assert options["queue"] == "fulfillment" and options["task_id"] == queued.task_id
    assert options["kwargs"] == {"sender": "t", "order_number": "Q", "count": 2}
    assert len(options["headers"]["cc_trace_id"]) == 32


def test_union_declarations_are_tuples_of_types():
    from commerce_coordinator.apps.core.signals import CoordinatorSignal

    signal = CoordinatorSignal({"note": str | None, "count": int})
    assert signal.arguments["note"] == (str, type(None))
    signal.check_arguments({"note": None, "count": 1})
    with pytest.raises(SignalArgumentError, match="'note' must be str or NoneType, got int"):
        signal.check_arguments({"note": 3, "count": 1})
    with pytest.raises(TypeError, match="must be declared with a type"):
        CoordinatorSignal({"note": "str"})


def test_a_request_is_refused_when_no_receiver_took_it_or_one_failed():
    from commerce_coordinator.apps.core.signals import ERROR, OK, ReceiverResult, SendResult

    taken = SendResult("s", "t", [ReceiverResult("a", OK), ReceiverResult("b", "skipped")])
    failed = SendResult("s", "t", [ReceiverResult("a", OK), ReceiverResult("b", ERROR, error=ValueError("no token"))])
    assert taken.refusal() == ""
    assert failed.refusal() == "no token"
    assert SendResult("s", "t", []).refusal() == "no receiver is routed"
