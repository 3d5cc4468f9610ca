"""HTTP client sessions of the apps' provider and LMS clients."""

from __future__ import annotations

import os

import requests


def read_environment_once(session: requests.Session, url: str, ca_bundle: bool = True) -> requests.Session:
    """Take the environment's proxy variables for `url` (NO_PROXY honoured) now, once, and turn `trust_env` off:
    requests otherwise scans the whole environment and looks for ~/.netrc on every request (about 0.2 ms of CPU
    each here; a netrc entry for the host would even replace the client's Authorization header). `ca_bundle`:
    also take REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (a client with a bundle of its own says False). A process sees
    changed variables when it restarts."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle and bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
    return session
