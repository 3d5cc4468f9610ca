"""The demo gateway's test cards (Stripe PaymentMethods) and tokens (CloudPayments) and what each does."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    outcome: str  # succeed, decline, error, hang
    decline_code: str = ""  # Stripe's decline_code
    cp_reason_code: int = 0  # CloudPayments' ReasonCode
    cp_reason: str = ""
    message: str = ""
    refund: str = "succeed"  # what a refund of a payment made with it does: succeed, fail, error


SUCCEED = Behaviour("succeed", message="Approved")
INSUFFICIENT_FUNDS = Behaviour(
    "decline", "insufficient_funds", 5051, "InsufficientFunds", "Your card has insufficient funds."
)
LOST_CARD = Behaviour("decline", "lost_card", 5041, "LostCard", "Your card was declined.")
GATEWAY_ERROR = Behaviour("error", message="The demo gateway is failing on purpose (500).")
HANG = Behaviour("hang", message="The demo gateway hangs on purpose.")
# Charged fine; a refund of the payment then fails (Stripe: a refund answered `failed`, as its pm_card_refundFail
# ends; CloudPayments: Success=false), or meets a 500 every time.
REFUND_FAILS = Behaviour("succeed", message="Approved", refund="fail")
REFUND_ERRORS = Behaviour("succeed", message="Approved", refund="error")

STRIPE_PAYMENT_METHODS = {
    "pm_card_visa": SUCCEED,
    "pm_card_visa_chargeDeclinedInsufficientFunds": INSUFFICIENT_FUNDS,
    "pm_card_visa_chargeDeclinedLostCard": LOST_CARD,
    "pm_card_demo_gatewayError": GATEWAY_ERROR,
    "pm_card_demo_hang": HANG,
    "pm_card_refundFail": REFUND_FAILS,
    "pm_card_demo_refundError": REFUND_ERRORS,
}
CLOUDPAYMENTS_TOKENS = {
    "tk_demo_success": SUCCEED,
    "tk_demo_insufficient_funds": INSUFFICIENT_FUNDS,
    "tk_demo_lost_card": LOST_CARD,
    "tk_demo_gateway_error": GATEWAY_ERROR,
    "tk_demo_hang": HANG,
    "tk_demo_refund_fails": REFUND_FAILS,
    "tk_demo_refund_error": REFUND_ERRORS,
}


def behaviour(provider: str, token: str) -> Behaviour | None:
    table = STRIPE_PAYMENT_METHODS if provider == "stripe" else CLOUDPAYMENTS_TOKENS
    return table.get(token)
