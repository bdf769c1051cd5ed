from __future__ import annotations

from celery import shared_task

from accounts.models import Brand
from rules import queue


@shared_task(name="rules.tasks.build_queue", acks_late=True)
def build_queue(brand_id: int) -> int:
    brand = Brand.objects.filter(pk=brand_id).first()
    if brand is None:
        return 0
    return queue.build_daily_queue(brand).suggested


@shared_task(name="rules.tasks.schedule_queue_builds")
def schedule_queue_builds() -> int:
    due = queue.brands_due_for_queue()
    for brand in due:
        build_queue.delay(brand.pk)
    return len(due)
