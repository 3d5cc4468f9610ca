"""Local development: SQLite files under var/, tasks in process unless CELERY_BROKER_URL is set."""

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
VAR_DIR.mkdir(parents=True, exist_ok=True)
ALLOWED_HOSTS = ["*"]

# Local-only webhook secrets (documented in README "Payments webhooks"); the environment overrides them.
STRIPE_WEBHOOK_SECRETS = STRIPE_WEBHOOK_SECRETS or ["whsec_local_dev_secret"]  # noqa: F405
CLOUDPAYMENTS_API_SECRETS = CLOUDPAYMENTS_API_SECRETS or ["cp_local_dev_secret"]  # noqa: F405
