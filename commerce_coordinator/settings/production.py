"""Production: MySQL/MariaDB, a Redis broker and secrets from the environment or a YAML file.

`COMMERCE_COORDINATOR_CFG` names an optional YAML file whose keys override the
environment (e.g. SECRET_KEY, DATABASES, CELERY_BROKER_URL, ALLOWED_HOSTS).
The process refuses to start on DEBUG, a default secret key or a missing secret.
"""

import os

import yaml
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import database_settings

DEBUG = False
os.environ.setdefault("DB_ENGINE", "mysql")
DATABASES = {
    "default": database_settings("DB_NAME", "commerce_coordinator"),
    "traces": database_settings("TRACES_DB_NAME", "commerce_coordinator_traces"),
}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_REDIS_URL", "redis://127.0.0.1:6379/1"),
    }
}

_config_file = os.environ.get("COMMERCE_COORDINATOR_CFG")
if _config_file:
    with open(_config_file, encoding="utf-8") as _f:
        globals().update(yaml.safe_load(_f) or {})

CELERY_TASK_ALWAYS_EAGER = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "true").lower() == "true"
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

REQUIRED_SECRETS = ["SECRET_KEY", "CELERY_BROKER_URL", "LMS_OAUTH_CLIENT_SECRET"]


def _refuse_unsafe_configuration() -> None:
    """Stop the process before it serves anything with an unsafe configuration."""
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production settings.")
    missing = [name for name in REQUIRED_SECRETS if not globals().get(name)]
    if missing:
        raise ImproperlyConfigured(
            f"Missing required setting(s) {', '.join(missing)}: set them in the environment "
            "or in the YAML file named by COMMERCE_COORDINATOR_CFG."
        )
    if SECRET_KEY.startswith("insecure") or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY is a default or too short (50 characters at least).")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is empty: set ALLOWED_HOSTS (comma-separated).")


_refuse_unsafe_configuration()
