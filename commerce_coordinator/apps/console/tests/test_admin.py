"""The admin keeps the data but lets nobody edit operator records; each links to its console page."""

import pytest
from django.urls import reverse

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.lms import operations as lms_operations

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)

MODELS = ["lms_order", "lms_orderline", "payments_webhookevent", "core_trace", "core_tracenode", "core_workaudit"]


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.invalid", "pw"))
    return client


@pytest.mark.parametrize("model", MODELS)
def test_operator_records_cannot_be_added_changed_or_deleted(superuser_client, pay, fake_lms, model):
    fake_lms.then(400)
    pay("ADM-1")
    lms_operations.retry_order("ADM-1", actor="root", reason="an audit row to look at")
    changelist = superuser_client.get(reverse(f"admin:{model}_changelist"))
    assert changelist.status_code == 200
    assert superuser_client.get(reverse(f"admin:{model}_add")).status_code == 403
    instance = changelist.context["cl"].result_list[0]
    change = superuser_client.get(reverse(f"admin:{model}_change", args=[instance.pk]))
    assert change.status_code == 200
    body = change.content.decode()
    assert 'name="_save"' not in body and "deletelink" not in body  # a read-only view
    assert superuser_client.get(reverse(f"admin:{model}_delete", args=[instance.pk])).status_code == 403
    assert "/console/" in changelist.content.decode()  # every row links to its console page


def test_the_trace_admin_finds_a_trace_by_its_business_key(superuser_client, pay, fake_lms):
    fake_lms.then(400)
    pay("ADM-2")
    # An operator's retry runs in a trace whose operator node carries the order number and LMS user id.
    [audit] = lms_operations.retry_order("ADM-2", actor="root", reason="test")
    for term in ("ADM-2", "4242"):
        response = superuser_client.get(reverse("admin:core_trace_changelist"), {"q": term})
        assert audit.trace_id in {t.trace_id for t in response.context["cl"].result_list}
    response = superuser_client.get(reverse("admin:core_trace_changelist"), {"q": "NO-SUCH-KEY"})
    assert list(response.context["cl"].result_list) == []
