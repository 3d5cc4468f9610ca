"""The demo LMS's own data: the OAuth clients it issues JWTs to, and the enrollments it stores."""

from django.contrib.auth.hashers import check_password, make_password
from django.db import models


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
