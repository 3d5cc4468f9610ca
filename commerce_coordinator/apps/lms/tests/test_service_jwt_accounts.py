"""A valid service JWT never changes a local account's staff or superuser flags (issue 9, item 5)."""

import pytest

from commerce_coordinator.apps.core.testing import ALL_DATABASES

from .test_api import service_jwt

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_an_administrator_jwt_naming_a_password_user_does_not_make_it_staff(client, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="alice-pw")
    response = client.get("/api/v1/orders/NO-SUCH/", HTTP_AUTHORIZATION=service_jwt(preferred_username="alice"))
    assert response.status_code == 404  # the service caller got in (an unknown order, not a 401/403)
    alice.refresh_from_db()
    assert (alice.is_staff, alice.is_superuser) == (False, False)
    service_user = django_user_model.objects.get(username="jwt:alice")
    assert service_user.is_staff and not service_user.has_usable_password()
    # alice's own password still reads nothing staff-only
    client.logout()
    assert client.get("/core/traces/", HTTP_AUTHORIZATION=basic("alice", "alice-pw")).status_code == 403


def test_a_non_administrator_jwt_naming_a_staff_user_does_not_demote_it(client, django_user_model):
    ops = django_user_model.objects.create_user("ops", password="ops-pw", is_staff=True, is_superuser=True)
    token = service_jwt(administrator=False, preferred_username="ops")
    assert client.get("/api/v1/orders/NO-SUCH/", HTTP_AUTHORIZATION=token).status_code == 403
    ops.refresh_from_db()
    assert (ops.is_staff, ops.is_superuser) == (True, True)
    assert client.get("/core/traces/", HTTP_AUTHORIZATION=basic("ops", "ops-pw")).status_code == 200


def basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
