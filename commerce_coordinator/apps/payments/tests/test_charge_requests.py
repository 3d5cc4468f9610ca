"""charges_requested (ADR 34): a page of attempts stored in one INSERT, once per idempotency key, their tasks
published after commit, a lost publish retaken by the sweep, and two concurrent requesters (MariaDB)."""

import threading

import pytest
from django.db import connection, connections, transaction

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.testing import ALL_DATABASES

from ..charges import ChargeAttempt, request_charges

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)


def requests(*numbers, provider="stripe") -> list[dict]:
    return [{"invoice_number": f"INV-202612-{n:07d}", "amount": "10.00", "currency": "usd", "provider": provider,
             "payment_token": "pm_card_visa", "idempotency_key": f"inv-{n}-a1", "lms_user_id": 9000 + n}
            for n in numbers]  # fmt: skip


def flat(published) -> list[tuple]:
    """(pk, token) per attempt: a chunk's message ([pk, ...], token) names several (ADR 0035)."""
    return [(pk, token) for pks, token in published for pk in (pks if isinstance(pks, list) else [pks])]


@pytest.fixture
def published(monkeypatch):
    """Tasks handed to the broker (recorded, not run): [(pk, claim token), ...]."""
    sent = []
    monkeypatch.setattr(durable, "publish_many", lambda model, items, headers: sent.extend(items))
    monkeypatch.setattr(durable, "publish", lambda model, pk, token, headers, countdown=None: sent.append((pk, token)))
    return sent


def test_a_page_is_stored_once_per_key_and_only_new_attempts_get_a_task_after_commit(published):
    with transaction.atomic():
        assert request_charges(None, charges=requests(1, 2, 3)) == {"requested": 3, "created": 3, "existing": 0}
        assert published == []  # nothing before the commit
    rows = {a.idempotency_key: a for a in ChargeAttempt.objects.all()}
    assert sorted(flat(published)) == sorted((a.pk, a.claim_token) for a in rows.values())
    assert len(published) == 1  # the three in one chunk: one message under one token
    assert {(a.status, a.currency, str(a.amount)) for a in rows.values()} == {("pending", "USD", "10.00")}
    published.clear()
    with transaction.atomic():
        assert request_charges(None, charges=requests(2, 3, 4)) == {"requested": 3, "created": 1, "existing": 2}
    assert [pk for pk, _ in published] == [ChargeAttempt.objects.get(idempotency_key="inv-4-a1").pk]
    assert ChargeAttempt.objects.count() == 4
    assert {a.claim_token for a in ChargeAttempt.objects.filter(idempotency_key="inv-2-a1")} == {
        rows["inv-2-a1"].claim_token}  # fmt: skip


def test_a_request_it_cannot_take_refuses_the_whole_send_and_stores_nothing(published):
    with pytest.raises(ValueError, match="provider 'paypal'"):
        with transaction.atomic():
            request_charges(None, charges=requests(1) + requests(2, provider="paypal"))
    broken = requests(3)
    del broken[0]["payment_token"]
    with pytest.raises(ValueError, match="lacks payment_token"):
        request_charges(None, charges=broken)
    assert ChargeAttempt.objects.count() == 0 and published == []


def test_a_crash_between_commit_and_publish_is_retaken_by_the_sweep(published, monkeypatch, settings):
    monkeypatch.setattr(durable, "publish_many", lambda model, items, headers: None)  # the process died here
    with transaction.atomic():
        request_charges(None, charges=requests(1, 2))
    assert published == [] and set(ChargeAttempt.objects.values_list("status", flat=True)) == {"pending"}
    settings.CC_DURABLE_STALLED_AFTER = -1
    assert durable.sweep()["payments.chargeattempt"] == 2
    tokens = dict(ChargeAttempt.objects.values_list("pk", "claim_token"))
    assert sorted(published) == sorted(tokens.items())  # re-published under fresh tokens


@pytest.mark.mysql_only
def test_two_requesters_of_the_same_attempts_at_once_store_one_row_and_one_task_each(published, settings):
    settings.PAYMENTS_CHARGE_CHUNK_SIZE = 10  # 20 attempts: two chunks
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB/MySQL (run with DB_ENGINE=mysql)")
    first_in, answers, errors = threading.Event(), {}, []

    def requester(name, hold):
        try:
            with transaction.atomic():
                answers[name] = request_charges(None, charges=requests(*range(1, 21)))
                first_in.set()
                hold.wait(5)  # the first keeps its transaction open while the second inserts the same keys
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    release = threading.Event()
    first = threading.Thread(target=requester, args=("first", release))
    first.start()
    assert first_in.wait(30)
    second = threading.Thread(target=requester, args=("second", threading.Event()))
    second.start()
    second.join(1.0)
    assert second.is_alive()  # blocked on the first's keys
    release.set()
    first.join(30), second.join(30)
    assert not errors
    assert answers["first"]["created"] == 20 and answers["second"]["created"] == 0
    assert ChargeAttempt.objects.count() == 20
    # 20 attempts, each once, in chunks of PAYMENTS_CHARGE_CHUNK_SIZE (one message and one token per chunk)
    assert len(flat(published)) == 20 == len({pk for pk, _ in flat(published)})
    assert len(published) == len({token for _, token in published}) == 2
