"""Stripe's PaymentIntent API and CloudPayments' token charge API, as far as charging a saved method goes.

Answers with each provider's shapes (status codes, error objects, ReasonCodes) for the test cards of
cards.py, and replays the stored answer for a repeated idempotency key, as both providers do.
"""

import base64
import json
import time
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import cards
from .models import DemoCharge


def _pause(behaviour: cards.Behaviour) -> None:
    if settings.DEMO_GATEWAY_LATENCY:
        time.sleep(settings.DEMO_GATEWAY_LATENCY)
    if behaviour.outcome == "hang":
        time.sleep(settings.DEMO_GATEWAY_HANG_SECONDS)


def _replay(provider: str, key: str):
    """The stored answer for a repeated idempotency key (and one more call counted), or None."""
    if not key:
        return None
    stored = DemoCharge.objects.filter(provider=provider, idempotency_key=key).first()
    if stored is None:
        return None
    DemoCharge.objects.filter(pk=stored.pk).update(calls=F("calls") + 1)
    return JsonResponse(stored.response, status=stored.status_code)


def _answer(provider, key, token, amount, currency, status_code, body):
    """Remember a final answer under its key (a 5xx is not final: a retry is evaluated afresh)."""
    if key and status_code < 500:
        try:
            with transaction.atomic():
                DemoCharge.objects.create(
                    provider=provider,
                    idempotency_key=key,
                    token=token,
                    amount=amount,
                    currency=currency,
                    status_code=status_code,
                    response=body,
                )
        except IntegrityError:  # a concurrent request with the same key answered first: give its answer
            return _replay(provider, key)
    return JsonResponse(body, status=status_code)


def _stripe_error(status_code: int, type_: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": {"type": type_, "message": message, **extra}}, status=status_code)


@csrf_exempt
@require_POST
def stripe_payment_intents(request):
    """POST /v1/payment_intents (form-encoded, Bearer secret key, Idempotency-Key header)."""
    if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
        return _stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
    key = request.headers.get("Idempotency-Key", "")
    replay = _replay("stripe", key)
    if replay is not None:
        return replay
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
    metadata = {k[len("metadata[") : -1]: v for k, v in data.items() if k.startswith("metadata[")}
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": currency,
        "payment_method": token,
        "metadata": metadata,
        "latest_charge": charge_id,
        "status": "succeeded" if behaviour.outcome == "succeed" else "requires_payment_method",
    }
    if behaviour.outcome == "succeed":
        return _answer("stripe", key, token, amount, currency, 200, intent)
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
    return _answer("stripe", key, token, amount, currency, 402, body)


def _cloudpayments_authorized(request) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        return False
    try:
        public_id, _, secret = base64.b64decode(credentials).decode().partition(":")
    except ValueError:
        return False
    return bool(public_id and secret)


@csrf_exempt
@require_POST
def cloudpayments_token_charge(request):
    """POST /payments/tokens/charge (JSON, HTTP Basic public id : API secret, X-Request-ID)."""
    if not _cloudpayments_authorized(request):
        return JsonResponse({"Success": False, "Message": "Authentication failed"}, status=401)
    key = request.headers.get("X-Request-ID", "")
    replay = _replay("cloudpayments", key)
    if replay is not None:
        return replay
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
    succeeded = behaviour.outcome == "succeed"
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
    return _answer(
        "cloudpayments", key, token, amount, currency, 200, {"Success": succeeded, "Message": None, "Model": model}
    )
