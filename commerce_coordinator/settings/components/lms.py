"""Settings of apps/lms: the LMS API client, its retry schedule and the stalled-line sweep; service JWTs."""

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
# 13.5 hours in all; each delay gets +/- LMS_RETRY_JITTER of random jitter, and a later Retry-After
# (capped at LMS_RETRY_AFTER_MAX) wins. After the last one the line is failed (docs/decisions/0004).
LMS_RETRY_SCHEDULE = [
    float(s) for s in os.environ.get("LMS_RETRY_SCHEDULE", "30,120,480,1800,3600,7200,14400,21600").split(",")
]
LMS_RETRY_JITTER = 0.25
# A pending line whose next attempt is this many seconds overdue (a lost publish or message), or whose
# run started this long ago and never finished (a killed worker), is re-queued by lms.sweep_stalled_lines.
LMS_STALLED_AFTER = int(os.environ.get("LMS_STALLED_AFTER", "900"))
LMS_RETRY_AFTER_MAX = 6 * 3600
