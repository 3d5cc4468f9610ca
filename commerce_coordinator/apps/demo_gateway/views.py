"""Stripe's PaymentIntent API and CloudPayments' token charge API, as far as charging a saved method goes.

Answers with each provider's shapes (status codes, error objects, ReasonCodes) for the test cards of
cards.py, and replays the stored answer for a repeated idempotency key, as both providers do.
"""

import base64
import json
import re
import time
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

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
    return _answered(stored.token, provider, JsonResponse(stored.response, status=stored.status_code))


def _answered(token: str, provider: str, response: JsonResponse) -> JsonResponse:
    """A charged-then-hang card's answer never arrives in time, however often it is asked (the charge stands)."""
    behaviour = cards.behaviour(provider, token)
    if behaviour is not None and behaviour.outcome == "charge_then_hang":
        time.sleep(settings.DEMO_GATEWAY_HANG_SECONDS)
    return response


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
    return _answered(token, provider, JsonResponse(body, status=status_code))


def _stripe_error(status_code: int, type_: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": {"type": type_, "message": message, **extra}}, status=status_code)


def _stripe_unauthorized(request):
    if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
        return _stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
    return None


@csrf_exempt
@require_POST
def stripe_payment_intents(request):
    """POST /v1/payment_intents (form-encoded, Bearer secret key, Idempotency-Key header)."""
    if (refused := _stripe_unauthorized(request)) is not None:
        return refused
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
        "status": "succeeded" if behaviour.charges else "requires_payment_method",
    }
    if behaviour.charges:
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
    return _answer(
        "cloudpayments", key, token, amount, currency, 200, {"Success": succeeded, "Message": None, "Model": model}
    )


SEARCH_BY_CHARGE_KEY = re.compile(r"^metadata\['charge_key'\]:'(?P<key>[^']*)'$")


@require_GET
def stripe_payment_intents_search(request):
    """GET /v1/payment_intents/search?query=metadata['charge_key']:'<key>' (Stripe's search result shape):
    the PaymentIntents the charges with that metadata created (succeeded or declined)."""
    if (refused := _stripe_unauthorized(request)) is not None:
        return refused
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


@csrf_exempt
@require_POST
def cloudpayments_find(request):
    """POST /payments/find {"InvoiceId"}: the invoice's last transaction (Success when it is completed), or
    {"Success": false, "Message": "Not found"}, as CloudPayments answers."""
    if not _cloudpayments_authorized(request):
        return JsonResponse({"Success": False, "Message": "Authentication failed"}, status=401)
    try:
        invoice_id = str(json.loads(request.body or b"{}")["InvoiceId"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"Success": False, "Message": "InvoiceId is required"}, status=400)
    stored = DemoCharge.objects.filter(provider="cloudpayments", response__Model__InvoiceId=invoice_id).first()
    if stored is None:
        return JsonResponse({"Success": False, "Message": "Not found", "Model": None})
    model = stored.response["Model"]
    return JsonResponse({"Success": model.get("Status") == "Completed", "Message": None, "Model": model})
