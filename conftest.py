"""Project-wide pytest fixtures."""

import pytest

from commerce_coordinator.apps.core import testing


@pytest.fixture
def celery_worker():
    """A real Celery worker process on Redis (fails in CI, skips elsewhere, when Redis is down)."""
    with testing.celery_worker() as worker:
        yield worker


@pytest.fixture
def gateway(live_server, settings):
    """The demo gateway (apps/demo_gateway) served by a live server on a real HTTP port; both providers' API
    bases point at it. `calls()` counts the charge requests it answered, `refund_calls()` the refund requests."""
    from django.apps import apps

    root = f"{live_server.url}/demo_gateway"
    settings.STRIPE_API_BASE = f"{root}/stripe"
    settings.CLOUDPAYMENTS_API_BASE = f"{root}/cloudpayments"

    def counted(model: str) -> int:
        return sum(apps.get_model("demo_gateway", model).objects.values_list("calls", flat=True))

    class Gateway:
        url = root

        @staticmethod
        def calls() -> int:
            return counted("DemoCharge")

        @staticmethod
        def refund_calls() -> int:
            return counted("DemoRefund")

    return Gateway


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


def pytest_collection_modifyitems(items):
    """Browser tests run last. Playwright's sync API keeps an event loop in the main thread from its first
    use to the end of the session; under it, Django's per-context connections change, so a later test's
    transaction.atomic() and on_commit() would not see one another."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)  # stable: order kept otherwise
