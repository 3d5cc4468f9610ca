"""Create (or update) the demo LMS's OAuth client for this service, and demo data; safe to run again."""

from django.conf import settings
from django.core.management.base import BaseCommand

from commerce_coordinator.apps.demo_lms.models import SERVICE_USERNAME, DemoEnrollment, DemoOAuthClient

DEMO_ENROLLMENTS = [("demo_learner", "course-v1:edX+DemoX+Demo_Course", "audit")]


class Command(BaseCommand):
    help = (
        "Provision the demo LMS: the OAuth2 client whose id and secret are LMS_OAUTH_CLIENT_ID and "
        "LMS_OAUTH_CLIENT_SECRET (so this service can call the demo LMS as it would the real one), "
        "and a demo enrollment. Idempotent; run by provision_local (settings.CC_DEMO_DATA_COMMANDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default=None, help="Default: settings.LMS_OAUTH_CLIENT_ID")
        parser.add_argument("--client-secret", default=None, help="Default: settings.LMS_OAUTH_CLIENT_SECRET")
        parser.add_argument("--username", default=SERVICE_USERNAME, help="The service user the client's tokens name.")

    def handle(self, *args, client_id, client_secret, username, **options):
        client_id = client_id or settings.LMS_OAUTH_CLIENT_ID
        client_secret = client_secret or settings.LMS_OAUTH_CLIENT_SECRET
        if not client_secret:
            self.stdout.write(
                "demo LMS OAuth client: skipped, LMS_OAUTH_CLIENT_SECRET is empty (local settings set one; "
                "or give --client-secret)"
            )
            return ""
        changes = []
        _, what = DemoOAuthClient.provision(client_id, client_secret, username)
        self.stdout.write(f"demo LMS OAuth client {client_id!r} ({username}): {what}")
        if what != "unchanged":
            changes.append(f"OAuth client {client_id} {what}")
        for user, course_id, mode in DEMO_ENROLLMENTS:
            _, created = DemoEnrollment.objects.get_or_create(user=user, course_id=course_id, defaults={"mode": mode})
            self.stdout.write(f"demo enrollment {user} in {course_id}: {'created' if created else 'unchanged'}")
            if created:
                changes.append(f"enrollment {user} in {course_id} created")
        # provision_local's contract: a non-empty summary only when something changed.
        return "; ".join(changes)
