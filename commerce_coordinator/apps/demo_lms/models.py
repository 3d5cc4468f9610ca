"""The demo LMS's own data: the OAuth clients it issues JWTs to, and the enrollments it stores."""

import hmac

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models

SERVICE_USERNAME = "commerce_coordinator_worker"


class DemoOAuthClient(models.Model):
    """An OAuth2 client-credentials application of the demo LMS (like a DOT Application in the LMS)."""

    client_id = models.CharField(max_length=100, unique=True)
    client_secret_hash = models.CharField(max_length=256)
    # The service user its tokens name (`preferred_username`); a service worker is `administrator`.
    username = models.CharField(max_length=150)
    is_administrator = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.client_id

    def set_secret(self, secret: str) -> None:
        self.client_secret_hash = make_password(secret)

    def check_secret(self, secret: str) -> bool:
        return check_password(secret, self.client_secret_hash)

    @classmethod
    def provision(cls, client_id: str, secret: str, username: str = SERVICE_USERNAME) -> tuple["DemoOAuthClient", str]:
        """Create or update a service client with this secret; returns it and "created", "updated" or "unchanged"."""
        client, created = cls.objects.get_or_create(
            client_id=client_id, defaults={"username": username, "client_secret_hash": make_password(secret)}
        )
        if created:
            return client, "created"
        if client.username == username and client.is_administrator and client.check_secret(secret):
            return client, "unchanged"
        client.username, client.is_administrator = username, True
        client.set_secret(secret)
        client.save()
        return client, "updated"

    @classmethod
    def authenticate(cls, client_id: str, secret: str) -> "DemoOAuthClient | None":
        """The client these credentials name, or None. This service's own configured credentials
        (LMS_OAUTH_CLIENT_ID / LMS_OAUTH_CLIENT_SECRET) create their client on first use, so the demo
        LMS works after `migrate` alone, with no provisioning step."""
        client = cls.objects.filter(client_id=client_id).first()
        service_id, service_secret = _service_credentials()
        if client is None and secret and client_id == service_id and hmac.compare_digest(secret, service_secret):
            client, _ = cls.provision(client_id, secret)
        return client if client is not None and client.check_secret(secret) else None


def _service_credentials() -> tuple[str, str]:
    return settings.LMS_OAUTH_CLIENT_ID, settings.LMS_OAUTH_CLIENT_SECRET


class DemoEnrollment(models.Model):
    """One learner's enrollment in one course run, as the LMS enrollment API reports it."""

    user = models.CharField(max_length=150)
    course_id = models.CharField(max_length=255)
    mode = models.CharField(max_length=64, default="audit")
    is_active = models.BooleanField(default=True)
    enrollment_attributes = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course_id"], name="demo_lms_enrollment_unique")]

    def __str__(self):
        return f"{self.user} in {self.course_id} ({self.mode}, {'active' if self.is_active else 'inactive'})"
