"""Signals and receivers for the core's own tests (the core's tests import no plugin app)."""

from celery import shared_task

from commerce_coordinator.apps.core.signals import CoordinatorSignal, writes_nothing

PREFIX = "commerce_coordinator.apps.core.tests.fixtures."

order_placed = CoordinatorSignal({"order_number": str, "count": int}, doc="A test signal.")
nested_signal = CoordinatorSignal({"order_number": str})
optional_signal = CoordinatorSignal({"note": (str, type(None))})
object_signal = CoordinatorSignal({"user": object}, doc="Carries an object Celery cannot serialise.")

CALLS: list[tuple] = []
NOT_CALLABLE = 42


def record(sender, order_number, count, **kwargs):
    CALLS.append(("record", sender, order_number, count))
    return {"recorded": order_number}


def explode(sender, **kwargs):
    CALLS.append(("explode", sender))
    raise RuntimeError("receiver exploded on purpose")


@writes_nothing
def log_only(sender, order_number, **kwargs):
    CALLS.append(("log_only", sender, order_number))
    return "logged"


@writes_nothing
def log_then_explode(sender, **kwargs):
    CALLS.append(("log_then_explode", sender))
    raise RuntimeError("a logging receiver exploded on purpose")


def send_nested(sender, order_number, **kwargs):
    CALLS.append(("send_nested", sender, order_number))
    return nested_signal.send("send_nested", order_number=order_number).ok


def nested_receiver(sender, order_number, **kwargs):
    CALLS.append(("nested_receiver", sender, order_number))
    return "nested ok"


def takes_nothing():
    """A receiver whose parameters cannot take any signal's arguments (core.E006)."""


def any_kwargs(**kwargs):
    CALLS.append(("any_kwargs", kwargs))


@shared_task
def record_task(sender, order_number, count, **kwargs):
    CALLS.append(("record_task", sender, order_number, count))
    return f"task recorded {order_number}"


@shared_task
def failing_task(sender, **kwargs):
    raise ValueError("task failed on purpose")


@shared_task
def object_task(sender, user, **kwargs):
    """A task receiver for object_signal: core.E007."""


def only_order_number(sender, order_number):
    """Cannot take order_placed's `count` (core.E006)."""


def create_duplicate_user(sender, order_number, **kwargs):
    """Hits a unique constraint (a routine duplicate): the error must stay inside this receiver."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create(username="duplicate")


def count_users(sender, **kwargs):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.count()


record_alias = record  # the same receiver under a second dotted path (core.E008)


@shared_task(bind=True, max_retries=1, default_retry_delay=0)
def retrying_task(self, sender, **kwargs):
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError("LMS down, retrying"))
    return "second try ok"


@shared_task
def any_kwargs_task(sender, **kwargs):
    """A task receiver that takes any arguments."""


@shared_task
def send_nested_task(sender, order_number, **kwargs):
    """A task receiver that sends another signal (the signal map draws it once traces saw it)."""
    return nested_signal.send("send_nested_task", order_number=order_number).ok


def send_nested_in_a_span(sender, order_number, **kwargs):
    """A receiver that sends another signal inside a span it opened (the span sits between them)."""
    from commerce_coordinator.apps.core import tracing

    with tracing.span("work", "fixtures.nested_work", order_number=order_number):
        return nested_signal.send("send_nested_in_a_span", order_number=order_number).ok


def dispatching_receiver(sender, **kwargs):
    """A receiver that says where it dispatches to (routing.receiver_description)."""


dispatching_receiver.describe_route = lambda: "dispatches to: alpha -> AlphaPlugin"


def badly_described_receiver(sender, **kwargs):
    pass


def _fail():
    raise LookupError("registry is broken")


badly_described_receiver.describe_route = _fail
