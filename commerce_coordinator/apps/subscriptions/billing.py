"""Billing a subscription's periods through invoicing (this app never imports it): subscription_periods_due.

The routed invoicing receiver puts each period on its account's invoice through the create/dispatch
machinery, in the caller's transaction, and answers which first periods it deferred and which it refused.
A receiver that fails (or none routed) raises BillingFailed, so the caller's transaction rolls back whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Subscription
from .signals import subscription_periods_due


class BillingFailed(RuntimeError):
    """Invoicing did not take the periods (its receiver failed or none is routed): nothing is kept."""


@dataclass
class Answer:
    deferred: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)


def period_entry(subscription: Subscription, period_start, first: bool = False, bill: bool = True) -> dict:
    return {
        "subscription_id": subscription.pk,
        "account_id": subscription.account_id,
        "period": f"{period_start:%Y-%m}",
        "plan": subscription.plan.as_data(),
        "first": first,
        "bill": bill,
    }


def bill(periods: list[dict]) -> Answer:
    """Send the periods to invoicing and gather its answer; BillingFailed when it did not take them."""
    answer = Answer()
    if not periods:
        return answer
    sent = subscription_periods_due.send("subscriptions", periods=periods)
    if why := sent.refusal():
        raise BillingFailed(f"subscription_periods_due failed: {why}")
    for result in sent:
        value = result.value if isinstance(result.value, dict) else {}
        answer.deferred.update(int(pk) for pk in value.get("deferred", []))
        answer.refused.update({int(pk): str(why) for pk, why in value.get("refused", {}).items()})
    return answer
