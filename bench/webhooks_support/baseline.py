"""The baseline: a Django view that only verifies the Stripe signature and inserts one row."""

import json

import stripe
from django.conf import settings
from django.db import IntegrityError, connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def baseline_stripe_webhook(request):
    body = request.body
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), request.META.get("HTTP_STRIPE_SIGNATURE"), settings.STRIPE_WEBHOOK_SECRETS[0], 300
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return JsonResponse({"error": "bad_signature"}, status=400)
    event = json.loads(body)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_baseline_event (event_id, payload) VALUES (%s, %s)", [event["id"], body.decode()]
            )
    except IntegrityError:
        return JsonResponse({"status": "duplicate"})
    return JsonResponse({"status": "received"})
