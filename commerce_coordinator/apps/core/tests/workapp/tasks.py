"""The task of DemoItem: one HTTP call per attempt (a 4xx is permanent, 5xx/429/network errors retry)."""

import time

import requests
from celery import shared_task
from django.db.models import F

from commerce_coordinator.apps.core import durable, retries

from .models import DemoItem


def call_url(item: DemoItem):
    if item.url.startswith("sleep:"):  # a run that takes a while (a worker can be killed meanwhile)
        time.sleep(float(item.url.split(":", 1)[1]))
        DemoItem.objects.filter(pk=item.pk).update(calls=F("calls") + 1)  # the side effect, after the wait
        return "slept"
    DemoItem.objects.filter(pk=item.pk).update(calls=F("calls") + 1)
    response = requests.get(item.url, timeout=2)
    if response.status_code >= 400:
        raise retries.WorkError(
            f"answered {response.status_code}: {response.text[:100]}", status_code=response.status_code
        )
    return response.text[:50]


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="core_workapp.run_demo_item")
def run_demo_item(self, item_pk: int):
    return durable.run(DemoItem, item_pk, self, call_url)


def run_one_demo_item(task, item_pk: int):
    return durable.run(DemoItem, item_pk, task, call_url)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="core_workapp.run_demo_items")
def run_demo_items(self, items: list):
    """Several DemoItems of one message (core.durable.run_batch)."""
    return durable.run_batch(DemoItem, items, run_one_demo_item)
