"""A dispatch page's attempts run in chunks (ADR 0035), through the demo gateway on a real HTTP port: one task
message per chunk, claimed together, provider calls concurrent, answers recorded together (charges_answered); a
retryable failure of one attempt handed to its own task without holding the others; a redelivered chunk charges
nothing twice; an attempt with an earlier unknown outcome reconciled alone (ADR 0033)."""

import json

import pytest
from django.core.management import call_command

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.models import TraceNode
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_gateway.models import DemoCharge
from commerce_coordinator.apps.invoicing import charging, clock
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceCharge, Notice
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.payments import charges, ratelimit
from commerce_coordinator.apps.payments.charges import ChargeAttempt, run_charge_attempt, run_charge_chunk

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
ANSWERED = "commerce_coordinator.apps.payments.signals.charges_answered"


@pytest.fixture(autouse=True)
def _billing_day():
    factories.start_clock_in_period()


@pytest.fixture
def published(monkeypatch):
    """Messages handed to the broker, recorded and not run: chunks ([pk, ...], token) and single attempts
    (pk, token, countdown)."""
    sent = {"chunks": [], "singles": []}
    real_many = durable.publish_many

    def many(model, items, headers):
        if model is not ChargeAttempt:
            return real_many(model, items, headers)
        sent["chunks"] += [item for item in items if isinstance(item[0], list)]
        sent["singles"] += [(pk, token, None) for pk, token in items if not isinstance(pk, list)]

    def one(model, pk, token, headers, countdown=None):
        sent["singles"].append((pk, token, countdown))

    monkeypatch.setattr(durable, "publish_many", many)
    monkeypatch.setattr(durable, "publish", one)
    return sent


def billed(*cards) -> list:
    made = [factories.account(card, lms_user_id=9100 + n) for n, card in enumerate(cards)]
    call_command("create_invoices", "--period", "2026-12")
    return made


def dispatch() -> dict:
    return json.loads(call_command("dispatch_invoices", "--json", "--period", "2026-12"))


def run_chunk(pks, token):
    return run_charge_chunk.apply(args=[pks], task_id=token).get()


def invoice_of(account) -> Invoice:
    return Invoice.objects.get(account=account)


def test_a_chunk_with_a_success_a_soft_and_a_hard_decline_and_a_5xx_answers_each_as_its_own(gateway, published):
    ok, soft, hard, down = billed("ok", "soft", "hard", "down")
    assert dispatch()["charges"] == 4
    [(pks, token)] = published["chunks"]  # one message for the four
    assert len(pks) == 4 and not published["singles"]
    result = run_chunk(pks, token)
    assert (result["claimed"], result["done"], result["retry"], result["failed"]) == (4, 3, 1, 0)

    paid = invoice_of(ok)
    assert (paid.state, paid.amount_paid, paid.charge_in_flight) == ("paid", paid.total, False)
    softly = invoice_of(soft)
    assert (softly.state, softly.attempts, softly.charge_in_flight) == ("open", 1, False)
    assert (softly.next_attempt_at - softly.finalized_at).days == 1  # the retry days
    hardly = invoice_of(hard)
    assert (hardly.state, hardly.next_attempt_at, hardly.charge_in_flight) == ("open", None, False)
    assert "hard decline" in hardly.events.last().reason
    assert {c.invoice_id: (c.status, c.decline) for c in InvoiceCharge.objects.all()} == {
        paid.pk: ("succeeded", ""), softly.pk: ("failed", "soft"), hardly.pk: ("failed", "hard"),
        invoice_of(down).pk: ("requested", ""),
    }  # fmt: skip
    # The 5xx did not hold the others: its attempt waits for its own task, under a fresh token, after a countdown.
    failing = ChargeAttempt.objects.get(invoice_number=invoice_of(down).number)
    assert (failing.status, failing.attempts, failing.last_status_code) == ("retry", 1, 500)
    [(pk, fresh, countdown)] = published["singles"]
    assert (pk, fresh) == (failing.pk, failing.claim_token) and fresh != token and countdown > 0
    assert invoice_of(down).charge_in_flight
    answered = ChargeAttempt.objects.exclude(pk=failing.pk)
    assert set(answered.values_list("status", flat=True)) == {"done"}
    assert sorted(answered.values_list("result", flat=True)) == ["declined", "declined", "succeeded"]
    # one charges_answered for the three answers, and each attempt its own work node in the chunk's trace
    assert TraceNode.objects.filter(kind="send", name=ANSWERED).count() == 1
    assert {n.name: n.status for n in TraceNode.objects.filter(kind="work", name__startswith="charge inv-")} == {
        f"charge inv-{invoice_of(a).pk}-a1": status
        for a, status in ((ok, "ok"), (soft, "ok"), (hard, "ok"), (down, "retry"))
    }  # fmt: skip
    notices = set(Notice.objects.values_list("kind", "status"))
    assert notices == {("invoice_sent", "done"), ("credit_card_error", "done"), ("evaluate_dunning", "done")}
    assert Notice.objects.filter(kind="credit_card_error").count() == 2

    # Its own task retries it on the policy (in process, Celery's retries run at once), then dead-letters it: the
    # invoice hears charge_failed(error).
    run_charge_attempt.apply(args=[pk], task_id=fresh)
    failing.refresh_from_db()
    assert (failing.status, failing.attempts, failing.result) == ("failed", 3, "error")
    down_invoice = invoice_of(down)
    assert (down_invoice.charge_in_flight, down_invoice.charges.get().result) == (False, "error")
    assert gateway.calls() == 3  # one charge call each (the gateway records no charge for its 500s)


def test_a_redelivered_chunk_charges_nothing_twice(gateway, published):
    accounts = billed("ok", "ok", "soft")
    dispatch()
    [(pks, token)] = published["chunks"]
    # The worker died after the claim, during the calls: the broker redelivers the same message (same task id).
    assert len(durable.claim_chunk(ChargeAttempt, pks, token)) == 3
    assert set(ChargeAttempt.objects.values_list("status", flat=True)) == {"running"}
    assert run_chunk(pks, token)["done"] == 3  # retaken by its own token, each charged once under its key
    assert [invoice_of(a).state for a in accounts] == ["paid", "paid", "open"]
    assert gateway.calls() == 3 and DemoCharge.objects.count() == 3
    versions = list(Invoice.objects.order_by("pk").values_list("version", flat=True))
    # A second redelivery after it all finished: nothing claimed, no call, nothing recorded again.
    assert run_chunk(pks, token)["skipped"]
    assert gateway.calls() == 3
    assert list(Invoice.objects.order_by("pk").values_list("version", flat=True)) == versions
    assert Notice.objects.filter(kind="invoice_sent").count() == 2


def test_an_attempt_the_sweep_took_over_is_refused_by_its_old_chunk(gateway, published, settings):
    first, second = billed("ok", "ok")
    dispatch()
    [(pks, token)] = published["chunks"]
    taken = ChargeAttempt.objects.get(pk=pks[0])
    taken.enqueue()  # what the sweep (or an operator) does: a fresh token, its own task
    result = run_chunk(pks, token)
    assert (result["claimed"], result["done"]) == (1, 1)
    taken.refresh_from_db()
    assert taken.status == "pending" and taken.claim_token != token  # left to its own task
    assert gateway.calls() == 1
    pk, fresh, _ = published["singles"][-1]
    run_charge_attempt.apply(args=[pk], task_id=fresh)
    assert [invoice_of(a).state for a in (first, second)] == ["paid", "paid"] and gateway.calls() == 2


def test_an_attempt_with_an_earlier_unknown_outcome_runs_alone_and_is_reconciled_first(gateway, settings):
    down, ok = billed("down", "ok")
    dispatch()  # in process (eager): the first chunk, then the 5xx attempt's own retries to its dead letter
    unknown = ChargeAttempt.objects.get(invoice_number=invoice_of(down).number)
    assert (unknown.status, unknown.result) == ("failed", "error")
    down.payment_token = "pm_card_visa"
    down.save(update_fields=["payment_token"])
    other = factories.account("ok", lms_user_id=9200)
    factories.draft(other)
    clock.move(days=1)
    assert dispatch()["charges"] == 2  # the retry and the new invoice, in one chunk
    unknown.refresh_from_db()
    assert (unknown.status, unknown.result) == ("failed", "not_charged")
    assert TraceNode.objects.filter(kind="work", name=f"reconcile {unknown.idempotency_key}").exists()
    assert [invoice_of(a).state for a in (down, ok, other)] == ["paid", "paid", "paid"]


def test_answers_invoicing_does_not_take_together_are_sent_one_by_one(gateway, published, monkeypatch):
    accounts = billed("ok", "soft")
    dispatch()
    [(pks, token)] = published["chunks"]

    def refuse(answers):
        raise RuntimeError("the receiver is broken")

    monkeypatch.setattr(charging, "record_answers", refuse)
    assert run_chunk(pks, token)["done"] == 2
    assert [invoice_of(a).state for a in accounts] == ["paid", "open"]
    assert not Invoice.objects.filter(charge_in_flight=True).exists()
    names = set(TraceNode.objects.filter(kind="send").values_list("name", flat=True))
    assert {"commerce_coordinator.apps.payments.signals.charge_succeeded",
            "commerce_coordinator.apps.payments.signals.charge_failed"} <= names  # fmt: skip


def test_a_webhook_confirms_an_attempt_a_chunk_answered_once_only(gateway, published):
    [account] = billed("ok")
    billed("ok")
    dispatch()
    [(pks, token)] = published["chunks"]
    run_chunk(pks, token)
    invoice = invoice_of(account)
    attempt = ChargeAttempt.objects.get(invoice_number=invoice.number)
    version = invoice.version
    # Stripe's payment_intent.succeeded for the same attempt: charge_succeeded again, recorded once already.
    charges.send_answer(attempt, charges.clients.ChargeAnswer("succeeded", "succeeded", charge_id=attempt.charge_id))
    assert invoice_of(account).version == version and InvoiceCharge.objects.filter(status="succeeded").count() == 2


def test_the_rate_limit_spaces_calls_and_a_429_pauses_them(settings):
    settings.PAYMENTS_CHARGE_RATE_LIMIT = "10/s"
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds

    limit = ratelimit.RateLimit(clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit.wait()
    assert slept == [0.1, 0.1]  # 10 per second: 0.1 s apart
    limit.back_off(2.0)
    limit.wait()
    assert slept[-1] == 2.0  # held for the Retry-After
    settings.PAYMENTS_CHARGE_RATE_LIMIT = None
    limit.back_off(None)
    limit.wait()
    assert slept[-1] == ratelimit.DEFAULT_PAUSE  # no limit, but a 429 still pauses
    assert ratelimit.per_second("6000/m") == 100.0 and ratelimit.per_second(None) == 0.0
    with pytest.raises(ValueError):
        ratelimit.per_second("fast")


def test_a_rate_limit_that_does_not_parse_or_an_empty_chunk_is_a_system_check_error(settings):
    from commerce_coordinator.apps.payments.checks import check_charge_chunks

    assert check_charge_chunks() == []
    settings.PAYMENTS_CHARGE_RATE_LIMIT = "fast"
    settings.PAYMENTS_CHARGE_CHUNK_SIZE = 0
    assert [m.id for m in check_charge_chunks()] == ["payments.E006", "payments.E007"]


def test_a_chunk_whose_answers_cannot_be_recorded_hands_each_attempt_to_its_own_task(gateway, published, monkeypatch):
    accounts = billed("ok", "ok")
    dispatch()
    [(pks, token)] = published["chunks"]

    real, broken = charges.send_answers, [True]

    def send_answers(answered):
        if broken:
            raise RuntimeError("the transaction is gone")
        return real(answered)

    monkeypatch.setattr(charges, "send_answers", send_answers)
    result = run_charge_chunk.apply(args=[pks], task_id=token).get()
    assert (result["done"], result["handed_back"]) == (0, 2)
    assert set(ChargeAttempt.objects.values_list("status", flat=True)) == {"pending"}  # nothing half-written
    assert all(invoice_of(a).charge_in_flight for a in accounts)
    broken.clear()
    for pk, fresh, _ in published["singles"]:
        run_charge_attempt.apply(args=[pk], task_id=fresh)
    assert [invoice_of(a).state for a in accounts] == ["paid", "paid"]
    assert DemoCharge.objects.count() == 2  # each charged once: the second call was the provider's replay


def test_finishing_a_chunk_leaves_an_attempt_taken_from_it_meanwhile_untouched(published):
    billed("ok", "ok", "soft")
    dispatch()
    [(pks, token)] = published["chunks"]
    items = durable.claim_chunk(ChargeAttempt, pks, token)
    ChargeAttempt.objects.get(pk=pks[1]).enqueue()  # the sweep took it from this run (a fresh token)
    answered = [(item, charges.clients.ChargeAnswer("succeeded", "succeeded", charge_id=f"pi_{item.pk}"))
                for item in items]  # fmt: skip
    done = durable._finish_all(answered, charges.answer_fields)
    assert [item.pk for item, _ in done] == [pks[0], pks[2]]
    rows = {a.pk: a for a in ChargeAttempt.objects.all()}
    assert [(rows[pk].status, rows[pk].charge_id) for pk in pks] == [
        ("done", f"pi_{pks[0]}"), ("pending", ""), ("done", f"pi_{pks[2]}")]  # fmt: skip
