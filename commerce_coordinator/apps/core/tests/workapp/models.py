"""DemoItem: a durable work item whose work calls an HTTP URL (or fails as a test tells it to)."""

from django.db import models

from commerce_coordinator.apps.core import durable

DEAD_LETTERS: list[tuple[int, str]] = []


class DemoItem(durable.DurableWorkItem):
    url = models.CharField(max_length=255, blank=True, default="")
    order_number = models.CharField(max_length=64, blank=True, default="")
    calls = models.PositiveIntegerField(default=0)

    retry_schedule_setting = "DEMO_ITEM_RETRY_SCHEDULE"
    task_path = "commerce_coordinator.apps.core.tests.workapp.tasks.run_demo_item"
    batch_task_path = "commerce_coordinator.apps.core.tests.workapp.tasks.run_demo_items"

    def key_values(self) -> dict:
        return {"order_number": self.order_number} if self.order_number else {}

    def on_dead_letter(self, reason: str) -> None:
        DEAD_LETTERS.append((self.pk, reason))
