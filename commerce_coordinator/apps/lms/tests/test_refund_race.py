"""Issue 9, item 1: a refund that races an in-flight enrollment ends unenrolled at the LMS, whatever the
order in which the two calls finish (the last instruction wins). The enrollment's call is held open in a
thread, the refund runs meanwhile, then the enrollment lands at the "LMS" after the unenrollment did."""

import threading
from unittest import mock

import pytest
from django.db import connections

from commerce_coordinator.apps.core.testing import ALL_DATABASES, wait_until
from commerce_coordinator.apps.lms import fulfillment
from commerce_coordinator.apps.lms.clients import EnrollmentResult, LmsError
from commerce_coordinator.apps.lms.models import Order, OrderLine
from commerce_coordinator.apps.lms.tasks import process_line

from .fake_payments import pay, refund

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
A = "course-v1:edX+Race+2026"


class SlowLms:
    """An LMS whose enrollment calls wait for `release`; each call takes effect when it completes."""

    def __init__(self, enroll_outcome="answered"):
        self.release = threading.Event()
        self.started = threading.Event()
        self.enroll_outcome = enroll_outcome
        self.active: dict[str, bool] = {}
        self.applied: list[tuple[str, bool]] = []

    def set_enrollment(self, *, user, course_run_key, mode, is_active, order_number=None):
        if is_active:
            self.started.set()
            assert self.release.wait(10)
        self.active[course_run_key] = is_active  # the LMS applies it, even if the answer is then lost
        self.applied.append((course_run_key, is_active))
        if is_active and self.enroll_outcome == "timeout":
            raise LmsError("LMS timed out: ReadTimeout", retryable=True, possibly_applied=True)
        return EnrollmentResult(200, {})


def _enroll_in_a_thread(line, errors):
    def run():
        try:
            process_line.apply(args=[line.pk], task_id=line.claim_token)
        except Exception as exc:  # pragma: no cover - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("enroll_outcome", ["answered", "timeout"])
def test_a_refund_during_an_inflight_enrollment_ends_unenrolled_at_the_lms(routed, enroll_outcome, settings):
    settings.LMS_RETRY_SCHEDULE = [30]  # a retry of the timed-out enrollment would wait: none must happen
    lms = SlowLms(enroll_outcome)
    with mock.patch.object(process_line, "apply_async"):  # queued; the thread below runs it
        pay(order_number="RACE-1", keys=[A])
    line = OrderLine.objects.get()
    errors: list = []
    with mock.patch.object(fulfillment, "get_client", return_value=lms):
        thread = _enroll_in_a_thread(line, errors)
        assert lms.started.wait(10)  # the enrollment call is at the LMS
        refund(order_number="RACE-1")  # its unenrollment runs at once, in process, and completes first
        assert lms.applied == [(A, False)]
        lms.release.set()  # now the enrollment lands at the LMS, after the unenrollment
        thread.join(20)
    assert errors == []
    assert lms.applied[:2] == [(A, False), (A, True)]
    assert lms.active == {A: False}  # the last instruction won: unenrolled
    line.refresh_from_db()
    assert (line.state, line.action) == ("refunded", "unenroll")
    assert Order.objects.get().status == "refunded"


def test_a_refund_while_the_enrollment_is_queued_but_not_sent_calls_the_lms_for_nothing(routed):
    lms = SlowLms()
    with mock.patch.object(process_line, "apply_async"):
        pay(order_number="RACE-2", keys=[A])
    line = OrderLine.objects.get()
    with mock.patch.object(fulfillment, "get_client", return_value=lms):
        refund(order_number="RACE-2")
        # The superseded enrollment task arrives late: refused, no LMS call.
        result = process_line.apply(args=[line.pk], task_id=line.claim_token).get()
    assert "not claimed" in result["skipped"]
    assert lms.applied == []
    line.refresh_from_db()
    assert line.state == "refunded"


def test_an_enrollment_refused_with_a_4xx_during_a_refund_needs_no_second_unenrollment(routed):
    class Refusing(SlowLms):
        def set_enrollment(self, *, is_active, **kwargs):
            if is_active:
                self.started.set()
                assert self.release.wait(10)
                raise LmsError("LMS answered 400: no such course", status_code=400)
            return super().set_enrollment(is_active=is_active, **kwargs)

    lms = Refusing()
    with mock.patch.object(process_line, "apply_async"):
        pay(order_number="RACE-3", keys=[A])
    line = OrderLine.objects.get()
    errors: list = []
    with mock.patch.object(fulfillment, "get_client", return_value=lms):
        thread = _enroll_in_a_thread(line, errors)
        assert lms.started.wait(10)
        refund(order_number="RACE-3")
        lms.release.set()
        thread.join(20)
    wait_until(lambda: OrderLine.objects.get().state == "refunded")
    assert lms.applied == [(A, False)]  # the refused enrollment never landed: one unenrollment is enough


@pytest.mark.parametrize(("enroll_outcome", "requeued_after"), [("answered", None), ("timeout", 7.0)])
def test_the_unenrollment_waits_until_the_inflight_enrollment_cannot_land(
    routed, settings, enroll_outcome, requeued_after
):
    """The refund's unenrollment waits out the enrollment call in flight (its run may be dead: bench/faults (c));
    the run that sees its answer re-queues it at once, the run whose call timed out after LMS_LATE_APPLY_WINDOW."""
    settings.LMS_RETRY_SCHEDULE = [30]
    settings.LMS_LATE_APPLY_WINDOW = 7.0
    lms = SlowLms(enroll_outcome)
    with mock.patch.object(process_line, "apply_async"):
        pay(order_number="RACE-4", keys=[A])
    line = OrderLine.objects.get()
    countdowns: list = []
    real_apply_async = process_line.apply_async

    def spy(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return real_apply_async(*args, **kwargs)  # eager: runs at once, whatever the countdown

    errors: list = []
    with mock.patch.object(fulfillment, "get_client", return_value=lms):
        thread = _enroll_in_a_thread(line, errors)
        assert lms.started.wait(10)
        with mock.patch.object(process_line, "apply_async", side_effect=spy):
            refund(order_number="RACE-4")
            lms.release.set()
            thread.join(20)
    assert errors == []
    longest = 3 * (settings.LMS_CONNECT_TIMEOUT + settings.LMS_READ_TIMEOUT) + 7.0
    assert longest - 5 < countdowns[0] <= longest  # the refund's: after the call in flight can no longer land
    assert countdowns[1:] == [requeued_after]  # the enrollment run's own re-queue
    assert lms.active == {A: False}
