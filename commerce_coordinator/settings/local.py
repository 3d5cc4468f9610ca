"""Local development: SQLite files under var/; without CELERY_BROKER_URL, the embedded broker (ADR 22)."""

import os

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)  # STATIC_ROOT, which whitenoise expects to exist
ALLOWED_HOSTS = ["*"]

# Local-only webhook secrets (documented in README "Payments webhooks"); the environment overrides them.
STRIPE_WEBHOOK_SECRETS = STRIPE_WEBHOOK_SECRETS or ["whsec_local_dev_secret"]  # noqa: F405
CLOUDPAYMENTS_API_SECRETS = CLOUDPAYMENTS_API_SECRETS or ["cp_local_dev_secret"]  # noqa: F405

# --- The embedded broker (docs/decisions/0022) ------------------------------------------------
# Without CELERY_BROKER_URL, tasks go through kombu's filesystem transport under var/celery/, and
# `manage.py runserver` starts a Celery worker (with beat) beside the server, so a retry waits its
# countdown as in production. `runserver --no-worker` leaves the worker out (run `make celery` yourself).
if not os.environ.get("CELERY_BROKER_URL"):
    CC_EMBEDDED_BROKER_DIR = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://localhost//"  # kombu wants a host name, even for files
    CELERY_TASK_ALWAYS_EAGER = False
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CC_EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(CC_EMBEDDED_BROKER_DIR / "queue"),
        "control_folder": str(CC_EMBEDDED_BROKER_DIR / "control"),
        "processed_folder": str(CC_EMBEDDED_BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.25,  # seconds between looks at the queue folder when it is empty
    }
    for _folder in ("queue", "control", "processed"):
        (CC_EMBEDDED_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CC_DEV_SERVER_WORKER = CELERY_BROKER_URL.startswith("filesystem://")  # noqa: F405

# --- The demo LMS ------------------------------------------------------------------------------
# The demo LMS is served by the dev server itself, on whatever port it listens: runserver sets
# CC_DEV_SERVER_URL (and LMS_URL_ROOT in its own process) from the port it bound, and its worker
# inherits it. LMS_URL_ROOT in the environment points elsewhere instead.
CC_DEV_SERVER_URL = os.environ.get("CC_DEV_SERVER_URL", "http://localhost:8140")
CC_DEMO_LMS_ON_DEV_SERVER = "LMS_URL_ROOT" not in os.environ
LMS_URL_ROOT = os.environ.get("LMS_URL_ROOT", CC_DEV_SERVER_URL + "/demo_lms")
LMS_OAUTH_CLIENT_ID = os.environ.get("LMS_OAUTH_CLIENT_ID", "commerce-coordinator-local")
# The demo LMS creates its client for these credentials on first use (provision_demo_lms does it ahead);
# not a real secret.
LMS_OAUTH_CLIENT_SECRET = os.environ.get("LMS_OAUTH_CLIENT_SECRET", "commerce-coordinator-local-secret")
