"""Local development: SQLite files under var/, tasks in process unless CELERY_BROKER_URL is set."""

import os

from .base import *  # noqa: F403
from .base import VAR_DIR
from .components.demo_gateway import dev_server_url

DEBUG = True
VAR_DIR.mkdir(parents=True, exist_ok=True)
ALLOWED_HOSTS = ["*"]

# Local-only webhook secrets (documented in README "Payments webhooks"); the environment overrides them.
STRIPE_WEBHOOK_SECRETS = STRIPE_WEBHOOK_SECRETS or ["whsec_local_dev_secret"]  # noqa: F405
CLOUDPAYMENTS_API_SECRETS = CLOUDPAYMENTS_API_SECRETS or ["cp_local_dev_secret"]  # noqa: F405

# The demo LMS served by this same process (runserver on :8140) stands in for the LMS.
LMS_URL_ROOT = os.environ.get("LMS_URL_ROOT", "http://localhost:8140/demo_lms")
LMS_OAUTH_CLIENT_ID = os.environ.get("LMS_OAUTH_CLIENT_ID", "commerce-coordinator-local")
# Created by `manage.py provision_demo_lms` (local-provision-commerce-coordinator.sh); not a real secret.
LMS_OAUTH_CLIENT_SECRET = os.environ.get("LMS_OAUTH_CLIENT_SECRET", "commerce-coordinator-local-secret")

# The demo payment gateway served by this same dev server (any port: see components/demo_gateway.py)
# stands in for Stripe's and CloudPayments' charge APIs; the environment overrides each.
DEMO_GATEWAY_ROOT = f"{dev_server_url(VAR_DIR)}/demo_gateway"
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", f"{DEMO_GATEWAY_ROOT}/stripe")
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "sk_test_demo_gateway")  # not a secret: the demo gateway's
CLOUDPAYMENTS_API_BASE = os.environ.get("CLOUDPAYMENTS_API_BASE", f"{DEMO_GATEWAY_ROOT}/cloudpayments")
CLOUDPAYMENTS_PUBLIC_ID = os.environ.get("CLOUDPAYMENTS_PUBLIC_ID", "pk_demo_gateway")
# E-mails (invoicing's notifications) are printed by the dev server / the shell that sends them.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
