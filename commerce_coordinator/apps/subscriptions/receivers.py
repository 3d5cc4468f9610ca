"""Receivers that CC_SIGNALS may name; they take the signals' declared arguments as keywords.

From invoicing (never imported): invoice_sent(invoice, owner), credit_card_error(invoice, charge, owner),
account_overdue(account, level, invoice, days_overdue), account_cleared(account); `invoice` is
{number, account_id, period, total, currency, status}. From payments: subscription_changed (CloudPayments'
recurrent notification). From the bus: subscribe_requested.
"""

from __future__ import annotations

import logging

from commerce_coordinator.apps.core import retries, tracing

from . import operations
from .models import ProviderMismatch, Subscription, SubscriptionStatus
from .states import InvalidTransition, StaleSubscription, transition

logger = logging.getLogger(__name__)
S = SubscriptionStatus


def record_invoice_paid(sender, invoice, owner, **kwargs):
    """invoice_sent: the periods on this invoice are paid; their subscriptions become (or stay) active."""
    moved = operations.invoice_paid(invoice["account_id"], invoice["period"], invoice["number"], "invoicing")
    return {"activated_or_resumed": moved}


def record_invoice_failed(sender, invoice, charge, owner, **kwargs):
    """credit_card_error: a first period's subscription is incomplete, a renewal's past due."""
    why = "no saved payment method" if charge is None else (charge.get("message") or charge.get("result") or "")
    moved = operations.invoice_failed(invoice["account_id"], invoice["period"], invoice["number"], why, "invoicing")
    return {"incomplete_or_past_due": moved}


def suspend_on_overdue(sender, account, level, invoice, days_overdue, **kwargs):
    """account_overdue: a suspending level (SUBSCRIPTIONS_SUSPEND_LEVELS) suspends past-due subscriptions."""
    return {"suspended": operations.account_overdue(account["account_id"], level, f"dunning:{level}")}


def resume_on_cleared(sender, account, **kwargs):
    """account_cleared: past-due and suspended subscriptions of the account are active again."""
    return {"resumed": operations.account_cleared(account["account_id"], "dunning")}


def subscribe_from_bus(sender, account_id, plan, message_id, **kwargs):
    """The bus's `subscribe` command: the API's subscribe; an impossible one is a permanent failure."""
    try:
        subscription = operations.subscribe(account_id, plan, f"bus:{message_id}"[:150])
    except operations.SubscribeRefused as exc:
        raise retries.PermanentError(str(exc)) from exc
    return {"subscription": subscription.pk, "status": subscription.status}


# --- CloudPayments recurrent notifications -------------------------------------------------------------

PROVIDER_ENDED = {"Cancelled", "Rejected", "Expired"}
AGREES = {"Active": {S.ACTIVE}, "PastDue": {S.PAST_DUE, S.SUSPENDED}}


def reconcile_provider_subscription(sender, provider, subscription_id, account_id, status, amount, currency,
                                    next_transaction_date, **kwargs):  # fmt: skip
    """subscription_changed: bring the local subscription in line with the provider's status, or record a
    mismatch for an operator (admin: Provider mismatches) when the table of transitions does not allow it."""
    tracing.add_keys(subscription_id=subscription_id)
    local = Subscription.objects.select_related("plan").filter(provider_subscription_id=str(subscription_id)).first()
    if local is None:
        return _mismatch(provider, subscription_id, status, None, "no local subscription has this provider id")
    if status in AGREES and local.status in AGREES[status]:
        return {"subscription": local.pk, "reconciled": "already in agreement"}
    if status in PROVIDER_ENDED and local.status in (S.CANCELED, S.EXPIRED, S.INCOMPLETE_EXPIRED):
        return {"subscription": local.pk, "reconciled": "already ended"}
    if status in PROVIDER_ENDED and local.status in (S.ACTIVE, S.SUSPENDED):
        action = "schedule_cancel" if local.status == S.ACTIVE else "cancel"
        try:
            transition(local, action, reason=f"{provider} recurrent {subscription_id} is {status}",
                       actor=f"payments:{provider}", cancel_at_period_end=action == "schedule_cancel")  # fmt: skip
        except (InvalidTransition, StaleSubscription) as exc:
            return _mismatch(provider, subscription_id, status, local, str(exc))
        return {"subscription": local.pk, "reconciled": action}
    why = f"the provider says {status}, this service says {local.status}: no transition reconciles them"
    return _mismatch(provider, subscription_id, status, local, why)


def _mismatch(provider, provider_id, status, local, reason) -> dict:
    row = ProviderMismatch.objects.create(
        provider=str(provider)[:32], provider_subscription_id=str(provider_id)[:64], provider_status=str(status)[:32],
        subscription=local, local_status=local.status if local else "", reason=reason,
        trace_id=tracing.current_trace_id() or "",
    )  # fmt: skip
    logger.warning("Provider subscription %s (%s) not reconciled: %s", provider_id, status, reason)
    tracing.set_outcome(tracing.ERROR, f"not reconciled: {reason}")
    return {"mismatch": row.pk, "reason": reason}


def log_lifecycle(sender, subscription, reason, **kwargs):
    """Every lifecycle signal: a log line (contracts may route them to backends)."""
    logger.info("Subscription %s is %s: %s", subscription["id"], subscription["status"], reason)
    return {"subscription": subscription["id"], "status": subscription["status"]}
