"""The demo LMS creates this service's OAuth client on its first token request (ADR 23): no provisioning."""

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.demo_lms.models import DemoOAuthClient

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
TOKEN_URL = "/demo_lms/oauth2/access_token"


def ask(client, client_id, secret):
    return client.post(TOKEN_URL, {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


def test_this_services_credentials_create_their_client_on_first_use(client, settings):
    settings.LMS_OAUTH_CLIENT_ID, settings.LMS_OAUTH_CLIENT_SECRET = "cc-lazy", "cc-lazy-secret"
    assert not DemoOAuthClient.objects.exists()
    first = ask(client, "cc-lazy", "cc-lazy-secret")
    assert first.status_code == 200 and first.json()["token_type"] == "JWT"
    assert ask(client, "cc-lazy", "cc-lazy-secret").status_code == 200
    assert list(DemoOAuthClient.objects.values_list("client_id", "is_administrator")) == [("cc-lazy", True)]


@pytest.mark.parametrize(
    ("client_id", "secret"), [("cc-lazy", "wrong"), ("someone-else", "cc-lazy-secret"), ("cc-lazy", "")]
)
def test_any_other_unknown_client_is_refused_and_nothing_is_created(client, settings, client_id, secret):
    settings.LMS_OAUTH_CLIENT_ID, settings.LMS_OAUTH_CLIENT_SECRET = "cc-lazy", "cc-lazy-secret"
    response = ask(client, client_id, secret)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert not DemoOAuthClient.objects.exists()


def test_no_configured_secret_creates_nothing(client, settings):
    settings.LMS_OAUTH_CLIENT_ID, settings.LMS_OAUTH_CLIENT_SECRET = "cc-lazy", ""
    assert ask(client, "cc-lazy", "").status_code == 401
    assert not DemoOAuthClient.objects.exists()
