"""Settings of apps/lms: the LMS API client, its retry schedule, its queue and the per-order cap; service JWTs."""

import os

# --- Service JWTs (edx-drf-extensions) ---------------------------------------
# The LMS (and the demo LMS) sign service JWTs with this issuer's key; the API
# accepts a JWT whose `administrator` claim is true (a service worker) or a staff session.
JWT_AUTH = {
    "JWT_ISSUERS": [
        {
            "ISSUER": os.environ.get("LMS_JWT_ISSUER", "http://localhost:8140/demo_lms/oauth2"),
            "AUDIENCE": os.environ.get("LMS_JWT_AUDIENCE", "lms-key"),
            "SECRET_KEY": os.environ.get("LMS_JWT_SECRET_KEY", "insecure-demo-lms-jwt-secret-key"),
        }
    ],
    "JWT_ALGORITHM": "HS256",
    "JWT_VERIFY_EXPIRATION": True,
    "JWT_VERIFY_AUDIENCE": True,
    "JWT_AUTH_HEADER_PREFIX": "JWT",
    "JWT_PUBLIC_SIGNING_JWK_SET": None,
    "JWT_DECODE_HANDLER": "commerce_coordinator.apps.core.api_auth.jwt_decode_handler",
    "JWT_PAYLOAD_GET_USERNAME_HANDLER": "commerce_coordinator.apps.core.api_auth.jwt_username",
    "JWT_LEEWAY": 1,
    "JWT_SUPPORTED_VERSION": "1.2.0",
}


# --- LMS fulfillment -----------------------------------------------------------
LMS_URL_ROOT = os.environ.get("LMS_URL_ROOT", "http://localhost:18000")
# Where the OAuth2 token endpoint lives ("<root>/oauth2/access_token"); empty means LMS_URL_ROOT.
LMS_OAUTH_URL = os.environ.get("LMS_OAUTH_URL", "")
LMS_OAUTH_CLIENT_ID = os.environ.get("LMS_OAUTH_CLIENT_ID", "commerce-coordinator-backend-service-key")
LMS_OAUTH_CLIENT_SECRET = os.environ.get("LMS_OAUTH_CLIENT_SECRET", "")
LMS_CONNECT_TIMEOUT = float(os.environ.get("LMS_CONNECT_TIMEOUT", "3.05"))
LMS_READ_TIMEOUT = float(os.environ.get("LMS_READ_TIMEOUT", "10"))
LMS_ENROLLMENT_MODE = "verified"
# Seconds before each retry of an LMS call (connection error, timeout, 5xx, 429): exponential, about
# 13.5 hours in all; each delay gets +/- CC_RETRY_JITTER of random jitter, and a later Retry-After
# (capped at CC_RETRY_AFTER_MAX) wins. After the last one the line is failed (ADRs 0006, 0013).
# Lines are core durable work items: lost tasks are found by core's sweep (CC_DURABLE_* settings).
LMS_RETRY_SCHEDULE = [
    float(s) for s in os.environ.get("LMS_RETRY_SCHEDULE", "30,120,480,1800,3600,7200,14400,21600").split(",")
]
# Seconds the LMS may still apply an enrollment call after this service stopped waiting for it (a read timeout,
# a killed worker): about the LMS's own request timeout. A refund that takes a line during its enrollment call
# sends the unenrollment only once that call can no longer land (issue 9: the last instruction wins).
LMS_LATE_APPLY_WINDOW = float(os.environ.get("LMS_LATE_APPLY_WINDOW", "30"))
# The Celery queue of lms.process_line (merged into CELERY_TASK_ROUTES by celery_settings.py): fulfillment never
# delays webhook processing. Run a worker for it: `celery -A commerce_coordinator worker -Q lms_fulfillment`.
LMS_CELERY_QUEUE = os.environ.get("LMS_CELERY_QUEUE", "lms_fulfillment")
# The lines of one order run at the same time in a worker (lms.process_lines), on the free threads of a pool of
# this many per worker process (each prefork child has its own; each thread keeps its connections: README, the
# MariaDB connection budget); 1: one after another. SQLite, and a batch run inside a transaction: one after another.
LMS_LINES_AT_ONCE = int(os.environ.get("LMS_LINES_AT_ONCE", "4"))
LMS_TASK_ROUTES = {"lms.process_line": {"queue": LMS_CELERY_QUEUE}, "lms.process_lines": {"queue": LMS_CELERY_QUEUE}}
# At most this many course runs in one order; past it record_order refuses the order (OrderRefused,
# fulfillment_failed) and the payment event is recorded as unroutable with the reason.
LMS_MAX_COURSE_RUNS_PER_ORDER = int(os.environ.get("LMS_MAX_COURSE_RUNS_PER_ORDER", "100"))
