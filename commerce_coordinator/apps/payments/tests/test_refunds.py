"""Refunds of provider payments (payments/refunds.py) against the demo gateway on a real HTTP port: the stripe
library's POST /v1/refunds and CloudPayments' POST /payments/refund, each key refunding once, the providers'
refusals and outages classified for core's retry policy, and the durable RefundAttempt's answers."""

from decimal import Decimal

import pytest
from django.apps import apps

from commerce_coordinator.apps.core import retries, tracing
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.payments import clients, refunds
from commerce_coordinator.apps.payments.refunds import RefundAttempt

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


@pytest.fixture(autouse=True)
def _patient(settings):
    """These tests are not about timeouts: a loaded machine's slow live server must not fail them."""
    settings.PAYMENTS_CHARGE_READ_TIMEOUT = 15


def DemoRefund():  # noqa: N802  (the demo gateway's record, read without importing that app)
    return apps.get_model("demo_gateway", "DemoRefund")


PROVIDERS = {"stripe": ("pm_card_visa", "USD"), "cloudpayments": ("tk_demo_success", "RUB")}


def paid(provider: str, token: str | None = None, amount="10.00") -> str:
    """A payment at the demo gateway (through our own charge call): its PaymentIntent id / TransactionId."""
    default, currency = PROVIDERS[provider]
    answer = clients.CHARGERS[provider](token=token or default, amount=Decimal(amount), currency=currency,
                                        idempotency_key=f"charge-{provider}-{token}", invoice_number="INV-T",
                                        lms_user_id=7)  # fmt: skip
    assert answer.result == "succeeded"
    return answer.charge_id


def call(provider: str, payment_id: str, amount: str, key: str) -> refunds.RefundAnswer:
    return refunds.REFUNDERS[provider](payment_id=payment_id, amount=Decimal(amount), currency=PROVIDERS[provider][1],
                                       idempotency_key=key, reason="asked", invoice_number="INV-T")  # fmt: skip


@pytest.mark.parametrize("provider", ["stripe", "cloudpayments"])
def test_a_payment_is_refunded_in_parts_once_per_key_and_never_beyond_it(gateway, provider):
    payment = paid(provider)
    first = call(provider, payment, "4.00", "k1")
    assert first.result == "succeeded" and first.refund_id
    assert call(provider, payment, "4.00", "k1") == first  # the same key: the gateway's first answer, no new refund
    assert call(provider, payment, "6.00", "k2").result == "succeeded"
    with pytest.raises(retries.PermanentError) as refused:
        call(provider, payment, "0.01", "k3")
    assert not retries.is_retryable(refused.value)
    assert [(r.amount, r.succeeded, r.calls) for r in DemoRefund().objects.order_by("pk")] == [
        (400, True, 2), (600, True, 1), (1, False, 1)]  # fmt: skip


def test_stripes_refusal_and_answer_shapes(gateway):
    payment = paid("stripe")
    with pytest.raises(retries.PermanentError, match="greater than unrefunded amount") as too_much:
        call("stripe", payment, "10.01", "s1")
    assert too_much.value.status_code == 400
    with pytest.raises(retries.PermanentError, match="No such payment_intent"):
        call("stripe", "pi_unknown", "1.00", "s2")
    failed = call("stripe", paid("stripe", "pm_card_refundFail"), "1.00", "s3")
    assert (failed.result, failed.status, failed.message) == ("failed", "failed", "expired_or_canceled_card")
    with pytest.raises(retries.RetryableError) as down:
        call("stripe", paid("stripe", "pm_card_demo_refundError"), "1.00", "s4")
    assert down.value.status_code == 500 and retries.is_retryable(down.value)


def test_cloudpayments_refusal_and_outage(gateway):
    with pytest.raises(retries.PermanentError, match="refused the refund: Transaction not found"):
        call("cloudpayments", "123", "1.00", "c1")
    with pytest.raises(retries.PermanentError, match="refused the refund: Refund declined"):
        call("cloudpayments", paid("cloudpayments", "tk_demo_refund_fails"), "1.00", "c2")
    with pytest.raises(retries.RetryableError):
        call("cloudpayments", paid("cloudpayments", "tk_demo_refund_error"), "1.00", "c3")


def request(payment_id: str, key: str = "inv-1-r1", provider: str = "stripe") -> dict:
    return refunds.request_refund(None, invoice_number="INV-T", amount=Decimal("3.00"), currency="usd",
                                  provider=provider, payment_id=payment_id, idempotency_key=key, reason="asked",
                                  lms_user_id=7)  # fmt: skip


def test_the_request_is_stored_once_per_key_then_refunded_and_answered(gateway, calls, settings):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, **{
        f"commerce_coordinator.apps.payments.signals.refund_{name}": [
            "commerce_coordinator.apps.payments.tests.receivers.record_refund_answer"]
        for name in ("succeeded", "failed")}}  # fmt: skip
    payment = paid("stripe")
    with tracing.trace(tracing.new_id()):
        first = request(payment)
        again = request(payment)
    assert (first["created"], again["created"], again["refund"]) == (True, False, first["refund"])
    attempt = RefundAttempt.objects.get()
    assert (attempt.status, attempt.attempts, attempt.currency, attempt.result) == ("done", 1, "USD", "succeeded")
    [(name, answer)] = calls
    assert (answer["idempotency_key"], answer["status"], answer["refund_id"]) == ("inv-1-r1", "succeeded",
                                                                                 attempt.refund_id)  # fmt: skip
    assert DemoRefund().objects.count() == 1
    # The task body once more (a crash after the provider answered, before the finish): the same key refunds nothing.
    refunds.refund(attempt)
    assert DemoRefund().objects.get().calls == 2 and len(calls) == 2 and calls[1][1] == answer
    with pytest.raises(retries.PermanentError, match="cannot refund through provider 'paypal'"):
        request(payment, "inv-1-r2", provider="paypal")


def test_a_dead_letter_answers_refund_failed_with_status_error(gateway, calls, settings):
    settings.CC_SIGNALS = {**settings.CC_SIGNALS, "commerce_coordinator.apps.payments.signals.refund_failed": [
        "commerce_coordinator.apps.payments.tests.receivers.record_refund_answer"]}  # fmt: skip
    request(paid("stripe", "pm_card_demo_refundError"))
    attempt = RefundAttempt.objects.get()
    assert (attempt.status, attempt.attempts, attempt.result, attempt.provider_status) == ("failed", 3, "error",
                                                                                           "error")  # fmt: skip
    [(_, answer)] = calls
    assert answer["status"] == "error" and "retries exhausted after 3 attempts" in answer["message"]
    assert attempt.retry_policy().schedule == (0.1, 0.1)  # PAYMENTS_REFUND_RETRY_SCHEDULE (test settings)
