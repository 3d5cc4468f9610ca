"""Local development: SQLite files under var/, tasks in process unless CELERY_BROKER_URL is set."""

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

# The demo LMS served by this same process (runserver on :8140) stands in for the LMS.
LMS_URL_ROOT = os.environ.get("LMS_URL_ROOT", "http://localhost:8140/demo_lms")
LMS_OAUTH_CLIENT_ID = os.environ.get("LMS_OAUTH_CLIENT_ID", "commerce-coordinator-local")
# Created by `manage.py provision_demo_lms` (local-provision-commerce-coordinator.sh); not a real secret.
LMS_OAUTH_CLIENT_SECRET = os.environ.get("LMS_OAUTH_CLIENT_SECRET", "commerce-coordinator-local-secret")
