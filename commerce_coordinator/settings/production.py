"""Production: MySQL/MariaDB, a Redis broker and secrets from the environment or a YAML file.

`COMMERCE_COORDINATOR_CFG` names an optional YAML file whose keys override the
environment (e.g. SECRET_KEY, DATABASES, CELERY_BROKER_URL, ALLOWED_HOSTS).
The process refuses to start on DEBUG, a default secret key or a missing secret.

Environment: DJANGO_SECRET_KEY (50+ random characters), CELERY_BROKER_URL,
ALLOWED_HOSTS (comma-separated), DB_NAME, TRACES_DB_NAME, DB_USER, DB_PASSWORD,
DB_HOST, DB_PORT (DB_ENGINE defaults to mysql), CACHE_REDIS_URL,
SECURE_SSL_REDIRECT (default true). `manage.py check --deploy` is clean on them.
"""

import os

import yaml
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import database_settings


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in {"1", "true", "yes", "on"}


# Only so that a mistaken DJANGO_DEBUG=true (or DEBUG: true in the YAML file) is refused loudly below.
DEBUG = _env_flag("DJANGO_DEBUG")
# Likewise: the demo endpoints (anonymous, and a token endpoint signing with the issuer key) are refused.
CC_DEMO_ENDPOINTS_ENABLED = _env_flag("CC_DEMO_ENDPOINTS_ENABLED")
os.environ.setdefault("DB_ENGINE", "mysql")
DATABASES = {
    "default": database_settings("DB_NAME", "commerce_coordinator"),
    "traces": database_settings("TRACES_DB_NAME", "commerce_coordinator_traces"),
}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_REDIS_URL", "redis://127.0.0.1:6379/1"),
        # A hung Redis must not hang requests (the auth throttle, /health/): fail after a few seconds.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Static files (the console's CSS and vendored JS) served by whitenoise from STATIC_ROOT: the deploy runs
# `manage.py collectstatic --noinput`, which writes the hashed, compressed files this storage serves.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "true").lower() == "true"
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# The YAML file named by COMMERCE_COORDINATOR_CFG overrides any setting above.
_config_file = os.environ.get("COMMERCE_COORDINATOR_CFG")
if _config_file:
    with open(_config_file, encoding="utf-8") as _f:
        globals().update(yaml.safe_load(_f) or {})

CELERY_TASK_ALWAYS_EAGER = False  # production always has a broker


def _secret_list(plural: str, singular: str) -> list[str]:
    """A YAML file may give either name, as a list or a comma-separated string."""
    found = []
    for value in (globals().get(plural), globals().get(singular)):
        items = value if isinstance(value, list) else str(value or "").split(",")
        found += [str(i).strip() for i in items if str(i).strip() and str(i).strip() not in found]
    return found


STRIPE_WEBHOOK_SECRETS = _secret_list("STRIPE_WEBHOOK_SECRETS", "STRIPE_WEBHOOK_SECRET")
CLOUDPAYMENTS_API_SECRETS = _secret_list("CLOUDPAYMENTS_API_SECRETS", "CLOUDPAYMENTS_API_SECRET")

REQUIRED_SECRETS = [
    "SECRET_KEY",
    "CELERY_BROKER_URL",
    "STRIPE_WEBHOOK_SECRETS",
    "CLOUDPAYMENTS_API_SECRETS",
    "LMS_OAUTH_CLIENT_SECRET",
]

# Service JWTs: accept none signed with the demo LMS's dev-only key. Set LMS_JWT_SECRET_KEY (and
# LMS_JWT_ISSUER, LMS_JWT_AUDIENCE) or JWT_AUTH in the YAML file to accept the LMS's tokens.
JWT_AUTH = {
    **JWT_AUTH,  # noqa: F405
    "JWT_ISSUERS": [
        issuer
        for issuer in JWT_AUTH.get("JWT_ISSUERS", [])  # noqa: F405
        if not str(issuer.get("SECRET_KEY", "")).startswith("insecure")
    ],
}


def _is_weak_secret_key(key: str) -> bool:
    """A default, short, low-variety (few distinct characters, mostly one character) or periodic key."""
    if key.startswith(("insecure", "django-insecure")) or len(key) < 50:
        return True
    most_common = max(key.count(c) for c in set(key))
    periodic = any(key == (key[:n] * (len(key) // n + 1))[: len(key)] for n in range(1, len(key) // 2 + 1))
    return len(set(key)) < 16 or most_common > len(key) // 4 or periodic


def _refuse_unsafe_configuration() -> None:
    """Stop the process before it serves anything with an unsafe configuration."""

    def refuse(reason: str) -> None:
        raise ImproperlyConfigured(f"Refusing to start with production settings: {reason}")

    if DEBUG:
        refuse("DEBUG is on. Unset DJANGO_DEBUG (and DEBUG in the COMMERCE_COORDINATOR_CFG file).")
    missing = [name for name in REQUIRED_SECRETS if not str(globals().get(name) or "").strip()]
    if missing:
        refuse(
            f"missing required setting(s) {', '.join(missing)}. Set them in the environment "
            "(DJANGO_SECRET_KEY, CELERY_BROKER_URL) or in the YAML file named by COMMERCE_COORDINATOR_CFG."
        )
    if _is_weak_secret_key(str(SECRET_KEY)):
        refuse(
            "SECRET_KEY is a default or weak key. Set DJANGO_SECRET_KEY to a random value of 50+ characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'."
        )
    if not ALLOWED_HOSTS:
        refuse("ALLOWED_HOSTS is empty. Set ALLOWED_HOSTS to the service's host names, comma-separated.")
    if "*" in ALLOWED_HOSTS:
        refuse("ALLOWED_HOSTS contains '*' (any Host header is served). List the service's host names instead.")
    if str(CELERY_BROKER_URL).strip().lower().startswith("memory://"):
        refuse(
            "CELERY_BROKER_URL is memory://: tasks would be lost with the process. Set a Redis or RabbitMQ URL, "
            "e.g. redis://redis-host:6379/0."
        )
    if CC_DEMO_ENDPOINTS_ENABLED:
        refuse(
            "CC_DEMO_ENDPOINTS_ENABLED is on: it mounts anonymous demo endpoints and a token endpoint. "
            "Unset it (environment and the COMMERCE_COORDINATOR_CFG file)."
        )


_refuse_unsafe_configuration()
