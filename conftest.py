"""Project-wide pytest fixtures."""

import pytest

from commerce_coordinator.apps.core import testing


@pytest.fixture
def celery_worker():
    """A real Celery worker process on Redis (fails in CI, skips elsewhere, when Redis is down)."""
    with testing.celery_worker() as worker:
        yield worker


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", "staff@example.invalid", "pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (e.g. no Basic-auth failure counts left by another test)."""
    from django.core.cache import cache

    cache.clear()
    yield
