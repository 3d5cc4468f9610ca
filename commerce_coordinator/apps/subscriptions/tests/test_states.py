"""The subscription state machine: every listed transition (with its event row and lifecycle signal) and
every refusal of an unlisted one."""

import pytest

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.subscriptions import signals, states
from commerce_coordinator.apps.subscriptions.models import Subscription, SubscriptionEvent, SubscriptionStatus

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
ACTIONS = sorted({rule.action for rule in states.RULES})
LISTED = {(rule.source, rule.action) for rule in states.RULES}
REFUSED = [
    (status, action) for status in SubscriptionStatus.values for action in ACTIONS if (status, action) not in LISTED
]


@pytest.fixture
def sent(monkeypatch):
    calls = []
    real = states._send

    def record(name, data, reason):
        calls.append((name, data["status"], reason))
        real(name, data, reason)

    monkeypatch.setattr(states, "_send", record)
    return calls


@pytest.mark.parametrize("rule", states.RULES, ids=lambda r: f"{r.source}-{r.action}-{r.target}")
def test_every_listed_transition_moves_writes_its_event_and_sends_its_signal(
    rule, make_subscription, sent, django_capture_on_commit_callbacks
):
    sub = make_subscription(rule.source)
    with tracing.trace() as ctx, django_capture_on_commit_callbacks(execute=True):
        event = states.transition(sub, rule.action, reason="because", actor="tester")
    sub.refresh_from_db()
    assert sub.status == rule.target and sub.version == 2
    assert (event.seq, event.action, event.from_status, event.to_status, event.reason, event.actor) == (
        2, rule.action, rule.source, rule.target, "because", "tester"
    )  # fmt: skip
    assert SubscriptionEvent.objects.get(subscription=sub, seq=2).trace_id == ctx.trace_id
    assert sent == ([(rule.signal, rule.target, "because")] if rule.signal else [])
    if rule.target in states.ENDED:
        assert sub.ended_at is not None and sub.renews_on is None


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_every_unlisted_transition_is_refused_and_writes_nothing(status, action, make_subscription, sent):
    sub = make_subscription(status)
    with pytest.raises(states.InvalidTransition, match=f"cannot {action} in status '{status}'"):
        states.transition(sub, action, reason="no")
    sub.refresh_from_db()
    assert (sub.status, sub.version) == (status, 1)
    assert not SubscriptionEvent.objects.exists() and sent == []


def test_an_unknown_action_is_named_as_such(make_subscription):
    with pytest.raises(states.InvalidTransition, match="'resurrect' is not a subscription action"):
        states.transition(make_subscription("canceled"), "resurrect")


def test_a_subscription_changed_since_it_was_read_is_refused_without_an_event(make_subscription, sent):
    sub = make_subscription("active")
    Subscription.objects.filter(pk=sub.pk).update(version=5)  # another run moved it
    with pytest.raises(states.StaleSubscription):
        states.transition(sub, "fail_renewal", reason="late")
    assert Subscription.objects.get(pk=sub.pk).status == "active"
    assert not SubscriptionEvent.objects.exists() and sent == []


def test_a_chain_of_events_numbers_each_step(make_subscription, django_capture_on_commit_callbacks, sent):
    sub = make_subscription("active")
    with django_capture_on_commit_callbacks(execute=True):
        for action in ("fail_renewal", "suspend", "pay", "cancel"):
            states.transition(sub, action, reason=action)
    chain = list(SubscriptionEvent.objects.filter(subscription=sub).values_list("seq", "from_status", "to_status"))
    assert chain == [(2, "active", "past_due"), (3, "past_due", "suspended"), (4, "suspended", "active"),
                     (5, "active", "canceled")]  # fmt: skip
    assert [name for name, *_ in sent] == ["subscription_past_due", "subscription_suspended", "subscription_resumed",
                                           "subscription_canceled"]  # fmt: skip


def test_every_lifecycle_signal_of_the_table_is_declared():
    assert {rule.signal for rule in states.RULES if rule.signal} <= set(dir(signals))


def test_the_diagram_shows_every_rule():
    diagram = states.mermaid()
    assert all(f"{r.source} --> {r.target}: {r.action}" in diagram for r in states.RULES)


def test_one_update_for_a_group_moves_only_the_members_that_did_not_change(make_subscription, sent):
    subs = [make_subscription("active", account_id=n) for n in range(3)]
    Subscription.objects.filter(pk=subs[1].pk).update(version=7)  # moved by someone else since it was read
    events = states.transition_many([states.Step(sub, "fail_renewal", "declined") for sub in subs], "tester")
    assert sorted(e.subscription_id for e in events) == [subs[0].pk, subs[2].pk]
    assert dict(Subscription.objects.values_list("pk", "status")) == {
        subs[0].pk: "past_due", subs[1].pk: "active", subs[2].pk: "past_due"
    }  # fmt: skip
    assert SubscriptionEvent.objects.filter(subscription=subs[1]).count() == 0


def test_the_guide_shows_the_table_as_it_is():
    from django.conf import settings

    assert states.mermaid() in (settings.BASE_DIR / "docs" / "subscriptions.md").read_text()


def test_an_invoice_of_an_account_without_subscriptions_costs_one_lookup(make_subscription, django_assert_num_queries):
    """Most invoices are not a subscription's: their outcome reaches subscriptions through invoice_sent /
    credit_card_error, and one look-up must be all it costs (bench/invoicing charges thousands a minute)."""
    from commerce_coordinator.apps.subscriptions import operations

    make_subscription("pending", account_id=7)  # another account's
    with django_assert_num_queries(1):
        assert operations.invoice_paid(8, "2026-12", "INV-1", "invoicing") == []
    with django_assert_num_queries(1):
        assert operations.invoice_failed(8, "2026-12", "INV-1", "declined", "invoicing") == []
