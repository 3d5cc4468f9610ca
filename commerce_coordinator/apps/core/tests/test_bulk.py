"""core.bulk's grouped conditional UPDATE on a test item model: all moved, none, or only the rows this write moved."""

import pytest
from django.utils import timezone

from commerce_coordinator.apps.core import durable
from commerce_coordinator.apps.core.bulk import update_group
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.core.tests.workapp.models import DemoItem

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
Status = durable.WorkStatus


def test_a_group_update_tells_which_rows_it_moved_when_some_had_moved_meanwhile():
    items = [DemoItem.objects.create(claim_token=f"t{n}") for n in range(3)]
    pks = [item.pk for item in items]
    now = timezone.now()
    write = {"status": Status.RUNNING, "updated_at": now}
    marker = {"status": Status.RUNNING, "updated_at": now}
    assert update_group(DemoItem, pks[:1], {"status": Status.PENDING}, write, marker) == {pks[0]}  # all of them
    DemoItem.objects.filter(pk=pks[1]).update(status=Status.DONE)  # another run moved this one meanwhile
    later = {"status": Status.RUNNING, "updated_at": now + timezone.timedelta(seconds=1)}
    moved = update_group(DemoItem, pks, {"status": Status.PENDING}, later, later)
    assert moved == {pks[2]}  # not the one moved before by the first write, not the one another run moved
    assert update_group(DemoItem, pks, {"status": Status.PENDING}, later, later) == set()  # none left to move
