"""Stripe's PaymentIntent and Refund APIs and CloudPayments' token charge and refund APIs, as far as charging a
saved method and refunding that payment go.

Answers with each provider's shapes (status codes, error objects, ReasonCodes) for the test cards of
cards.py, and replays the stored answer for a repeated idempotency key, as both providers do.
"""

import base64
import contextlib
import functools
import json
import re
import time
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import cards
from .models import DemoCharge, DemoRefund


def _pause(behaviour: cards.Behaviour) -> None:
    if settings.DEMO_GATEWAY_LATENCY:
        time.sleep(settings.DEMO_GATEWAY_LATENCY)
    if behaviour.outcome == "hang":
        time.sleep(settings.DEMO_GATEWAY_HANG_SECONDS)


def _replay(provider: str, key: str, model=DemoCharge):
    """The stored answer for a repeated idempotency key (and one more call counted), or None."""
    if not key:
        return None
    stored = model.objects.filter(provider=provider, idempotency_key=key).first()
    if stored is None:
        return None
    model.objects.filter(pk=stored.pk).update(calls=F("calls") + 1)
    return _answered(provider, getattr(stored, "token", ""), JsonResponse(stored.response, status=stored.status_code))


def _answered(provider: str, token: str, response: JsonResponse) -> JsonResponse:
    """A charged-then-hang card's answer never arrives in time, however often it is asked (the charge stands)."""
    behaviour = cards.behaviour(provider, token)
    if behaviour is not None and behaviour.outcome == "charge_then_hang":
        time.sleep(settings.DEMO_GATEWAY_HANG_SECONDS)
    return response


def _answer(provider, key, status_code, body, model=DemoCharge, **fields):
    """Remember a final answer under its key (a 5xx is not final: a retry is evaluated afresh); one without a key
    too, under a key of its own, so that a payment made without one can be refunded. A key that already has an
    answer (a repeat, or a concurrent request that stored first) gets that answer instead, as the providers do:
    the INSERT comes first, so a first request costs one statement, not a look-up and an insert."""
    if status_code < 500:
        stored_key = key or f"no-key-{uuid.uuid4().hex}"
        if not _stored_first(model, provider=provider, idempotency_key=stored_key, status_code=status_code,
                             response=body, **fields):  # fmt: skip
            return _replay(provider, key, model)
    return _answered(provider, fields.get("token", ""), JsonResponse(body, status=status_code))


def _stored_first(model, **fields) -> bool:
    """Insert the answer; False when its key has one already. Outside a transaction the INSERT is atomic on its
    own; inside one (a test's), a savepoint keeps the conflict from breaking it."""
    in_transaction = connection.in_atomic_block
    try:
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            model.objects.create(**fields)
    except IntegrityError:
        return False
    return True


def _stripe_error(status_code: int, type_: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": {"type": type_, "message": message, **extra}}, status=status_code)


def _metadata(data) -> dict:
    """Stripe's form-encoded metadata[key]=value pairs."""
    return {k[len("metadata[") : -1]: v for k, v in data.items() if k.startswith("metadata[")}


def _provider_api(provider: str, model=DemoCharge):
    """A provider API view: a POST and the provider's authentication; the view gets the request and the key (its
    answer is stored under the key, and a repeated key gets the stored answer: `_answer`). The view runs before
    the replay, so a repeat takes the gateway's latency too, and a key reused with parameters that get an answer
    never stored (a 400 for a bad amount or unknown method, any 5xx) gets that answer, not the stored one."""

    def wrap(view):
        @csrf_exempt
        @require_POST
        @functools.wraps(view)
        def handle(request):
            if provider == "stripe" and not request.headers.get("Authorization", "").startswith("Bearer sk_"):
                return _stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
            if provider == "cloudpayments" and not _cloudpayments_authorized(request):
                return JsonResponse({"Success": False, "Message": "Authentication failed"}, status=401)
            return view(request, request.headers.get("Idempotency-Key" if provider == "stripe" else "X-Request-ID", ""))

        return handle

    return wrap


@_provider_api("stripe")
def stripe_payment_intents(request, key):
    """POST /v1/payment_intents (form-encoded, Bearer secret key, Idempotency-Key header)."""
    data = request.POST
    token, currency = data.get("payment_method", ""), data.get("currency", "")
    try:
        amount = int(data.get("amount", ""))
    except ValueError:
        return _stripe_error(400, "invalid_request_error", "Invalid integer: amount", param="amount")
    behaviour = cards.behaviour("stripe", token)
    if behaviour is None or not currency:
        return _stripe_error(400, "invalid_request_error", f"No such PaymentMethod: '{token}'", code="resource_missing")
    _pause(behaviour)
    if behaviour.outcome in ("error", "hang"):
        return _stripe_error(500, "api_error", behaviour.message)
    intent_id = f"pi_demo_{uuid.uuid4().hex[:20]}"
    charge_id = f"ch_demo_{uuid.uuid4().hex[:20]}"
    metadata = _metadata(data)
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": currency,
        "payment_method": token,
        "metadata": metadata,
        "latest_charge": charge_id,
        "status": "succeeded" if behaviour.charges else "requires_payment_method",
    }
    if behaviour.charges:
        return _answer("stripe", key, 200, intent, token=token, amount=amount, currency=currency)
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": behaviour.decline_code,
            "message": behaviour.message,
            "charge": charge_id,
            "payment_intent": intent,
        }
    }
    return _answer("stripe", key, 402, body, token=token, amount=amount, currency=currency)


def _cloudpayments_authorized(request) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        return False
    try:
        public_id, _, secret = base64.b64decode(credentials).decode().partition(":")
    except ValueError:
        return False
    return bool(public_id and secret)


@_provider_api("cloudpayments")
def cloudpayments_token_charge(request, key):
    """POST /payments/tokens/charge (JSON, HTTP Basic public id : API secret, X-Request-ID)."""
    try:
        data = json.loads(request.body or b"{}")
        amount = round(float(data["Amount"]) * 100)
        token, currency = str(data["Token"]), str(data.get("Currency", "RUB"))
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"Success": False, "Message": "Amount and Token are required"}, status=400)
    behaviour = cards.behaviour("cloudpayments", token)
    if behaviour is None:
        return JsonResponse({"Success": False, "Message": "Token not found"})
    _pause(behaviour)
    if behaviour.outcome in ("error", "hang"):
        return JsonResponse({"Success": False, "Message": behaviour.message}, status=500)
    succeeded = behaviour.charges
    model = {
        "TransactionId": uuid.uuid4().int % 10**9,
        "Amount": data["Amount"],
        "Currency": currency,
        "InvoiceId": data.get("InvoiceId"),
        "AccountId": data.get("AccountId"),
        "Token": token,
        "Status": "Completed" if succeeded else "Declined",
        "ReasonCode": 0 if succeeded else behaviour.cp_reason_code,
        "Reason": "Approved" if succeeded else behaviour.cp_reason,
        "CardHolderMessage": behaviour.message,
        "JsonData": json.dumps(data["JsonData"]) if isinstance(data.get("JsonData"), dict) else data.get("JsonData"),
    }
    body = {"Success": succeeded, "Message": None, "Model": model}
    return _answer("cloudpayments", key, 200, body, token=token, amount=amount, currency=currency)


# --- refunds ---------------------------------------------------------------------------------


def _refundable(provider: str, charge: DemoCharge, payment_id: str) -> int:
    """What is left of a payment to refund, in minor units."""
    done = DemoRefund.objects.filter(provider=provider, payment_id=payment_id, succeeded=True)
    return charge.amount - sum(done.values_list("amount", flat=True))


def _refund_answer(provider, key, payment_id, amount, status_code, body, succeeded=False):
    return _answer(provider, key, status_code, body, DemoRefund, payment_id=payment_id, amount=amount,
                   succeeded=succeeded)  # fmt: skip


@_provider_api("stripe", DemoRefund)
def stripe_refunds(request, key):
    """POST /v1/refunds (form-encoded: payment_intent, amount, metadata[...]; Bearer key, Idempotency-Key)."""
    data = request.POST
    intent_id = data.get("payment_intent", "")
    charge = DemoCharge.objects.filter(provider="stripe", status_code=200, response__id=intent_id).first()
    if charge is None:
        return _stripe_error(400, "invalid_request_error", f"No such payment_intent: '{intent_id}'",
                             code="resource_missing", param="payment_intent")  # fmt: skip
    left = _refundable("stripe", charge, intent_id)
    try:
        amount = int(data.get("amount") or left)
    except ValueError:
        return _stripe_error(400, "invalid_request_error", "Invalid integer: amount", param="amount")
    behaviour = cards.behaviour("stripe", charge.token) or cards.SUCCEED
    if behaviour.refund == "error":
        return _stripe_error(500, "api_error", "The demo gateway fails refunds of this payment on purpose (500).")
    if left <= 0:
        message = f"Charge {charge.response['latest_charge']} has already been refunded."
        body = {"error": {"type": "invalid_request_error", "code": "charge_already_refunded", "message": message}}
        return _refund_answer("stripe", key, intent_id, amount, 400, body)
    if amount <= 0 or amount > left:
        body = {
            "error": {
                "type": "invalid_request_error",
                "code": "amount_too_large",
                "param": "amount",
                "message": f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            }
        }
        return _refund_answer("stripe", key, intent_id, amount, 400, body)  # fmt: skip
    failed = behaviour.refund == "fail"
    metadata = _metadata(data)
    refund = {
        "id": f"re_demo_{uuid.uuid4().hex[:20]}", "object": "refund", "amount": amount, "balance_transaction": None,
        "charge": charge.response["latest_charge"], "created": int(time.time()), "currency": charge.currency,
        "customer": None, "customer_account": None, "payment_method": charge.token,
        "destination_details": {"card": {"type": "refund"}, "type": "card"}, "metadata": metadata,
        "payment_intent": intent_id, "reason": data.get("reason") or None, "receipt_number": None,
        "source_transfer_reversal": None, "status": "failed" if failed else "succeeded", "transfer_reversal": None,
    }  # fmt: skip
    if failed:
        refund["failure_reason"] = "expired_or_canceled_card"
    return _refund_answer("stripe", key, intent_id, amount, 200, refund, succeeded=not failed)


@_provider_api("cloudpayments", DemoRefund)
def cloudpayments_refund(request, key):
    """POST /payments/refund (JSON TransactionId, Amount; HTTP Basic, X-Request-ID)."""
    try:
        data = json.loads(request.body or b"{}")
        transaction_id, amount = int(data["TransactionId"]), round(float(data["Amount"]) * 100)
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"Success": False, "Message": "TransactionId and Amount are required"}, status=400)
    charge = DemoCharge.objects.filter(provider="cloudpayments", response__Model__TransactionId=transaction_id).first()
    payment_id = str(transaction_id)
    if charge is None or not charge.response.get("Success"):
        return _refund_answer("cloudpayments", key, payment_id, amount, 200,
                              {"Success": False, "Message": "Transaction not found"})  # fmt: skip
    behaviour = cards.behaviour("cloudpayments", charge.token) or cards.SUCCEED
    if behaviour.refund == "error":
        return JsonResponse({"Success": False, "Message": "The demo gateway fails this refund (500)."}, status=500)
    if behaviour.refund == "fail" or amount <= 0 or amount > _refundable("cloudpayments", charge, payment_id):
        message = "Refund declined by the demo gateway" if behaviour.refund == "fail" else "Invalid refund amount"
        return _refund_answer("cloudpayments", key, payment_id, amount, 200, {"Success": False, "Message": message})
    body = {"Success": True, "Message": None, "Model": {"TransactionId": uuid.uuid4().int % 10**9}}
    return _refund_answer("cloudpayments", key, payment_id, amount, 200, body, succeeded=True)


# --- lookups of a charge whose answer was lost (ADR 0033) ------------------------------------------

SEARCH_BY_CHARGE_KEY = re.compile(r"^metadata\['charge_key'\]:'(?P<key>[^']*)'$")


@require_GET
def stripe_payment_intents_search(request):
    """GET /v1/payment_intents/search?query=metadata['charge_key']:'<key>' (Stripe's search result shape):
    the PaymentIntents the charges with that metadata created (succeeded or declined)."""
    if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
        return _stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
    match = SEARCH_BY_CHARGE_KEY.match(request.GET.get("query", "").strip())
    if match is None:
        return _stripe_error(400, "invalid_request_error", "The demo gateway searches metadata['charge_key'] only.")
    key = match.group("key")
    stored = DemoCharge.objects.filter(provider="stripe").filter(
        Q(response__metadata__charge_key=key) | Q(response__error__payment_intent__metadata__charge_key=key)
    )
    intents = [c.response.get("error", {}).get("payment_intent") or c.response for c in stored.order_by("-pk")]
    return JsonResponse({"object": "search_result", "data": intents, "has_more": False, "next_page": None,
                         "url": "/v1/payment_intents/search"})  # fmt: skip


@_provider_api("cloudpayments")
def cloudpayments_find(request, key):
    """POST /payments/find {"InvoiceId"}: the invoice's last transaction (Success when it is completed), or
    {"Success": false, "Message": "Not found"}, as CloudPayments answers."""
    try:
        invoice_id = str(json.loads(request.body or b"{}")["InvoiceId"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"Success": False, "Message": "InvoiceId is required"}, status=400)
    stored = DemoCharge.objects.filter(provider="cloudpayments", response__Model__InvoiceId=invoice_id).first()
    if stored is None:
        return JsonResponse({"Success": False, "Message": "Not found", "Model": None})
    model = stored.response["Model"]
    return JsonResponse({"Success": model.get("Status") == "Completed", "Message": None, "Model": model})
