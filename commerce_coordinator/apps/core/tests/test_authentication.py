"""Basic auth stops hashing passwords for a client or a username after repeated failures (issue 9, item 4)."""

import base64
import uuid

import pytest
import rest_framework.authentication as drf_authentication
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from commerce_coordinator.apps.core.authentication import _failure_keys
from commerce_coordinator.apps.core.testing import ALL_DATABASES, require_redis

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)  # the signal map reads the traces too

URL = "/core/signals/"  # staff only, Basic auth accepted


def basic(username, password):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="right", is_staff=True)


@pytest.fixture
def password_checks(monkeypatch):
    """Counts the password checks (the expensive hash) that Basic authentication makes."""
    calls = []
    real = drf_authentication.authenticate

    def counting(*args, **kwargs):
        calls.append(kwargs.get("username"))
        return real(*args, **kwargs)

    monkeypatch.setattr(drf_authentication, "authenticate", counting)
    return calls


def fail_until_blocked(client, settings, username="ops", **extra):
    for _ in range(settings.CC_AUTH_FAILURE_LIMIT):
        assert client.get(URL, **basic(username, "wrong"), **extra).status_code == 401


def test_a_client_that_failed_too_often_gets_429_without_a_password_check(client, settings, staff, password_checks):
    fail_until_blocked(client, settings, username="nobody")
    assert len(password_checks) == settings.CC_AUTH_FAILURE_LIMIT
    blocked = client.get(URL, **basic("ops", "right"))  # even right credentials, from this address
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "throttled" and int(blocked["Retry-After"]) > 0
    assert len(password_checks) == settings.CC_AUTH_FAILURE_LIMIT  # no hash was computed
    other_client = client.get(URL, **basic("ops", "right"), REMOTE_ADDR="10.0.0.2")
    assert other_client.status_code == 200


def test_a_username_attacked_from_many_addresses_is_blocked(client, settings, staff, password_checks):
    for n in range(settings.CC_AUTH_FAILURE_LIMIT):
        assert client.get(URL, **basic("ops", "wrong"), REMOTE_ADDR=f"10.0.1.{n}").status_code == 401
    assert client.get(URL, **basic("ops", "wrong"), REMOTE_ADDR="10.0.2.1").status_code == 429
    assert len(password_checks) == settings.CC_AUTH_FAILURE_LIMIT


def test_successes_are_never_counted(client, settings, staff):
    for _ in range(settings.CC_AUTH_FAILURE_LIMIT * 2):
        assert client.get(URL, **basic("ops", "right")).status_code == 200


def redis_cache(location):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": f"cc-test-{uuid.uuid4().hex}",
            "OPTIONS": {"socket_timeout": 1},
        }
    }


def test_the_counters_live_in_the_shared_redis_cache(client, settings, staff, password_checks):
    url = require_redis().rsplit("/", 1)[0] + "/13"
    with override_settings(CACHES=redis_cache(url)):
        keys = _failure_keys(RequestFactory().get(URL), "nobody") + _failure_keys(RequestFactory().get(URL), "ops")
        try:
            fail_until_blocked(client, settings, username="nobody")
            assert client.get(URL, **basic("ops", "right")).status_code == 429
            assert len(password_checks) == settings.CC_AUTH_FAILURE_LIMIT
            assert caches["default"].get(keys[0]) == settings.CC_AUTH_FAILURE_LIMIT
        finally:
            caches["default"].delete_many(keys)  # never clear(): that would flush a shared Redis db


def test_a_cache_that_is_down_does_not_lock_anyone_out(client, staff):
    with override_settings(CACHES=redis_cache("redis://127.0.0.1:1/0")):
        assert client.get(URL, **basic("ops", "wrong")).status_code == 401
        assert client.get(URL, **basic("ops", "right")).status_code == 200
