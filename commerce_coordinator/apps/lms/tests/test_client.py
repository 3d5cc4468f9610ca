"""The LMS client against a real HTTP server on localhost: token, 200, 400, 401 refresh, 429, 503, a hang."""

import time

import pytest

from commerce_coordinator.apps.core import retries
from commerce_coordinator.apps.lms.clients import LmsApiClient, LmsError, parse_retry_after

KEY = "course-v1:edX+DemoX+Demo_Course"


def enroll(client=None, is_active=True):
    return (client or LmsApiClient()).set_enrollment(
        user="42", course_run_key=KEY, mode="verified", is_active=is_active, order_number="ORD-1"
    )


def test_200_posts_the_enrollment_api_body_with_a_client_credentials_jwt(fake_lms):
    result = enroll()
    assert result.status_code == 200
    assert result.data["course_details"]["course_id"] == KEY
    [call] = fake_lms.calls
    assert call["body"] == {
        "user": "42",
        "mode": "verified",
        "is_active": True,
        "course_details": {"course_id": KEY},
        "enrollment_attributes": [{"namespace": "order", "name": "order_number", "value": "ORD-1"}],
    }
    assert call["auth"] == "JWT token-1"
    [token_request] = fake_lms.token_calls
    assert token_request["grant_type"] == "client_credentials"
    assert token_request["client_id"] == "cc-test-client"
    assert token_request["token_type"] == "jwt"


def test_the_token_is_cached_between_calls_and_clients(fake_lms):
    enroll()
    enroll(LmsApiClient())
    enroll(is_active=False)
    assert fake_lms.tokens_issued == 1
    assert [c["auth"] for c in fake_lms.calls] == ["JWT token-1"] * 3
    assert fake_lms.calls[-1]["body"]["is_active"] is False


def test_400_is_not_retryable(fake_lms):
    fake_lms.then(400)
    with pytest.raises(LmsError) as info:
        enroll()
    assert retries.is_retryable(info.value) is False
    assert info.value.status_code == 400
    assert "scripted 400" in str(info.value)


def test_401_fetches_a_new_token_and_tries_once_more(fake_lms):
    enroll()  # caches token-1
    fake_lms.then(401)
    result = enroll()
    assert result.status_code == 200
    assert [c["auth"] for c in fake_lms.calls] == ["JWT token-1", "JWT token-1", "JWT token-2"]
    assert fake_lms.tokens_issued == 2


def test_401_twice_is_a_non_retryable_error(fake_lms):
    fake_lms.then(401, times=2)
    with pytest.raises(LmsError) as info:
        enroll()
    assert info.value.status_code == 401 and not retries.is_retryable(info.value)


def test_429_is_retryable_with_its_retry_after(fake_lms):
    fake_lms.then(429, headers={"Retry-After": "120"})
    with pytest.raises(LmsError) as info:
        enroll()
    assert retries.is_retryable(info.value) and info.value.status_code == 429
    assert info.value.retry_after == 120


def test_503_is_retryable(fake_lms):
    fake_lms.then(503)
    with pytest.raises(LmsError) as info:
        enroll()
    assert retries.is_retryable(info.value) and info.value.status_code == 503
    assert info.value.retry_after is None


def test_a_hang_past_the_read_timeout_is_a_retryable_timeout(fake_lms):
    fake_lms.then(200, delay=1.5)  # read timeout is 0.5 s
    start = time.monotonic()
    with pytest.raises(LmsError) as info:
        enroll()
    elapsed = time.monotonic() - start
    assert retries.is_retryable(info.value) and info.value.status_code is None
    assert info.value.possibly_applied  # sent, answer lost: the LMS may have enrolled the learner
    assert "timed out" in str(info.value)
    assert elapsed < 1.4
    time.sleep(1.2)  # let the single-threaded server finish the hung answer before the next test


def test_nothing_listening_is_a_retryable_connection_error(settings):
    settings.LMS_CONNECT_TIMEOUT = 0.5
    client = LmsApiClient(url_root="http://127.0.0.1:9", client_id="x", client_secret="y")
    with pytest.raises(LmsError) as info:
        enroll(client)
    assert retries.is_retryable(info.value) and info.value.status_code is None
    assert not info.value.possibly_applied


def test_retry_after_is_seconds_or_an_http_date():
    assert parse_retry_after("30") == 30
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 50 < parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) <= 60


def test_the_proxy_variables_are_read_when_the_client_is_built_not_on_every_call(fake_lms, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    client = LmsApiClient()
    assert client.session.proxies.get("http") == "http://proxy.invalid:3128"  # what the environment said then
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HTTP_PROXY")
    bypassing = LmsApiClient()
    assert "http" not in bypassing.session.proxies  # the LMS's host is in NO_PROXY: called directly
    assert enroll(bypassing).status_code == 200 and len(fake_lms.calls) == 1
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")  # a change after the client is built ...
    assert enroll(bypassing).status_code == 200  # ... is not read per call (the process restarts to see it)
