"""core.http_sessions: the environment's proxies and CA bundle read once, when a client's session is made."""

import requests

from commerce_coordinator.apps.core.http_sessions import read_environment_once


def test_the_proxies_and_the_bundle_are_taken_once_and_the_environment_is_not_read_per_call(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "lms.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    session = read_environment_once(requests.Session(), "https://api.example.com/v1")
    assert (session.proxies.get("https"), session.verify, session.trust_env) == (
        "http://proxy.invalid:3128",
        "/etc/ssl/bundle.pem",
        False,
    )
    own_bundle = read_environment_once(requests.Session(), "https://api.example.com/v1", ca_bundle=False)
    assert own_bundle.verify is True  # a client that brings its own bundle keeps it
    bypassed = read_environment_once(requests.Session(), "https://lms.internal/api")
    assert "https" not in bypassed.proxies  # NO_PROXY honoured for the client's own host
