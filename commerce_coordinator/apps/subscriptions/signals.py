"""Signals the subscriptions app sends; CC_SIGNALS routes them. Every argument is plain data.

``subscription``: {id, account_id, plan (code), status, current_period_start, current_period_end (ISO dates),
cancel_at_period_end}; ``reason``: why it changed (the event row's reason).
``periods``: a list of {subscription_id, account_id, period ("YYYY-MM"), plan: {code, name, price (decimal
string), currency, period_months}, first (bool: the subscription's first billed period)}.
"""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

LIFECYCLE = {"subscription": dict, "reason": str}

subscription_activated = CoordinatorSignal(
    LIFECYCLE, doc="A subscription's first period was paid (or its trial began)."
)
subscription_past_due = CoordinatorSignal(LIFECYCLE, doc="A renewal charge failed: the dunning ladder runs.")
subscription_suspended = CoordinatorSignal(LIFECYCLE, doc="The dunning ladder reached a suspending level.")
subscription_resumed = CoordinatorSignal(LIFECYCLE, doc="A past-due or suspended subscription was paid: active again.")
subscription_canceled = CoordinatorSignal(LIFECYCLE, doc="Canceled (at once, or at its period end): not billed again.")
subscription_ending = CoordinatorSignal(
    LIFECYCLE,
    doc="Active to the end of its period, then not renewed (cancel at period end, plan retired): bill it no more.",
)
subscription_expired = CoordinatorSignal(
    LIFECYCLE, doc="Ended without a cancel: its first payment never came (incomplete_expired) or its plan was retired."
)

subscription_periods_due = CoordinatorSignal(
    {"periods": list},
    doc="Bill these subscription periods through the invoicing machinery (each on its account's invoice of the "
    "period). The receiver answers {'deferred': [ids], 'refused': {id: why}}: deferred first periods are free "
    "(the month's invoice was out), refused ones are rolled back.",
)

renewal_reminder_due = CoordinatorSignal(
    {"subscription": dict, "account": dict, "renews_at": str, "amount": Decimal},
    doc="A subscription renews on `renews_at` (ISO date) for `amount` in the plan's currency: remind its owner. "
    "Sent once per subscription, period and SUBSCRIPTIONS_REMINDER_DAYS entry.",
)

subscribe_requested = CoordinatorSignal(
    {"account_id": int, "plan": str, "message_id": str},
    doc="The admin panel's `subscribe` command (bus): subscribe an account to a plan, as the API does.",
)
