"""The minimal pipeline bench/fulfillment compares with: what a user might write instead of the coordinator.

A view verifies the Stripe signature and inserts one row per order; after the commit it enqueues one Celery task
per line; each task calls the LMS enrollment API with `requests` (a JWT from the LMS's OAuth endpoint, fetched
once per process) and updates the row; the last line sets `fulfilled_at`. No inbox, no dedup, no claims, no
traces, no retries: the floor of a webhook-to-enrollment pipeline on the same servers.
"""

import json
import threading
import time

import requests
import stripe
from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

DB = "minimal"  # its own alias: Django's stock MySQL backend (fulfillment_settings)
TABLE = "bench_minimal_order"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
    "order_number VARCHAR(64) NOT NULL UNIQUE, lms_user_id BIGINT NOT NULL, lines_left INT NOT NULL, "
    "fulfilled_at DOUBLE NULL, payload LONGTEXT NOT NULL)"
)
_local = threading.local()


@csrf_exempt
def minimal_stripe_webhook(request):
    body = request.body
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), request.META.get("HTTP_STRIPE_SIGNATURE"), settings.STRIPE_WEBHOOK_SECRETS[0], 300
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return JsonResponse({"error": "bad_signature"}, status=400)
    metadata = json.loads(body)["data"]["object"]["metadata"]
    number, user, keys = metadata["order_number"], int(metadata["lms_user_id"]), metadata["course_run_keys"].split(",")
    try:
        with transaction.atomic(using=DB), connections[DB].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (order_number, lms_user_id, lines_left, payload) VALUES (%s, %s, %s, %s)",
                [number, user, len(keys), body.decode()],
            )
            for key in keys:
                transaction.on_commit(lambda key=key: enroll_line.delay(number, user, key), using=DB)
    except IntegrityError:
        return JsonResponse({"status": "duplicate"})
    return JsonResponse({"status": "received"})


def _session() -> tuple[requests.Session, str]:
    if not hasattr(_local, "session"):
        session = requests.Session()
        answer = session.post(
            settings.LMS_URL_ROOT + "/oauth2/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": settings.LMS_OAUTH_CLIENT_ID,
                "client_secret": settings.LMS_OAUTH_CLIENT_SECRET,
                "token_type": "jwt",
            },
            timeout=10,
        )
        answer.raise_for_status()
        _local.session, _local.token = session, answer.json()["access_token"]
    return _local.session, _local.token


@shared_task(name="bench.minimal.enroll_line")
def enroll_line(number: str, user: int, key: str) -> None:
    session, token = _session()
    answer = session.post(
        settings.LMS_URL_ROOT + "/api/enrollment/v1/enrollment",
        json={"user": str(user), "mode": "verified", "is_active": True, "course_details": {"course_id": key}},
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    with connections[DB].cursor() as cursor:  # MariaDB assigns left to right: fulfilled_at sees the new lines_left
        cursor.execute(
            f"UPDATE {TABLE} SET lines_left = lines_left - 1, fulfilled_at = IF(lines_left = 0, %s, NULL) "
            "WHERE order_number = %s",
            [time.time(), number],
        )
