"""Local development: SQLite files under var/, tasks in process unless CELERY_BROKER_URL is set."""

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
VAR_DIR.mkdir(parents=True, exist_ok=True)
ALLOWED_HOSTS = ["*"]
