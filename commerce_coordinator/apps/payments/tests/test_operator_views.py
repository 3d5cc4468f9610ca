"""What an operator sees and types: the admin's payload without secrets, replay of an unknown event."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from ..models import WebhookEvent
from ..redaction import REDACTED, redact_fields
from .helpers import payment_intent, post_stripe, stripe_event

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
CLIENT_SECRET = "pi_3Nabc_secret_Zy9KqLmN0pQ"


def test_the_admin_shows_a_stored_payload_without_secrets_tokens_or_passwords(admin_client, client, calls):
    intent = payment_intent(
        pi_id="pi_3Nabc",
        client_secret=CLIENT_SECRET,
        receipt_email="learner@example.org",
        payment_method_options={"card": {"mandate_options": {"token": "tok_visible_1"}}},
        next_action={"redirect": {"return_url": "https://example.org/r", "access_token": "at_visible_2"}},
        metadata={
            "order_number": "ORD-R",
            "lms_user_id": "3",
            "course_run_keys": "course-v1:a+b+c",
            "password": "p4ss",
        },
    )
    assert post_stripe(client, stripe_event(obj=intent, event_id="evt_redact")).status_code == 200
    event = WebhookEvent.objects.get(event_id="evt_redact")

    page = admin_client.get(f"/admin/payments/webhookevent/{event.pk}/change/").content.decode()

    for secret in (CLIENT_SECRET, "tok_visible_1", "at_visible_2", "p4ss", "learner@example.org"):
        assert secret not in page
    assert page.count(REDACTED) == 4 and "[e-mail]" in page
    assert "ORD-R" in page and "https://example.org/r" in page  # the rest stays readable
    assert event.payload["data"]["object"]["client_secret"] == CLIENT_SECRET  # stored as received


def test_redact_fields_keeps_empty_values_and_non_secret_names():
    data = {"token_type": "JWT", "secret": "", "api_secret": "x", "items": [{"Password": "y"}], "n": None}
    assert redact_fields(data) == {
        "token_type": "JWT",
        "secret": "",
        "api_secret": REDACTED,
        "items": [{"Password": REDACTED}],
        "n": None,
    }


def test_replay_of_an_unknown_event_id_is_an_error_naming_it(client, calls):
    assert post_stripe(client, stripe_event(event_id="evt_known")).status_code == 200
    with pytest.raises(CommandError, match="No webhook event with id evt_nope, 999999"):
        call_command(
            "replay_webhook_events", "--id", "evt_known", "--id", "evt_nope", "--id", "999999", stdout=StringIO()
        )
