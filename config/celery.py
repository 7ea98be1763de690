"""The Celery app. Settings come from Django's, under the CELERY_ prefix."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange
from kombu import Queue as BrokerQueue

from workers.queues import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("palate")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every queue of workers.queues, each bound as Celery would make it on first use (a direct
# exchange of its name): a worker started without --queues consumes them all.
app.conf.task_queues = [
    BrokerQueue(queue.value, Exchange(queue.value), routing_key=queue.value) for queue in Queue
]
# Routing by module, in one place: each domain's tasks go to the queue of their kind
# of work (GPU hosts consume `gpu` with --concurrency=1). Requests a caller waits for go
# to `scoring`, which a long training run or inspection on `gpu` cannot hold up.
app.conf.task_routes = {
    "workers.tasks.imports.*": {"queue": Queue.DEFAULT},
    "workers.tasks.exports.*": {"queue": Queue.DEFAULT},
    "workers.tasks.quality.*": {"queue": Queue.DEFAULT},
    "workers.tasks.rewards.score_items": {"queue": Queue.SCORING},
    "workers.tasks.rewards.score_draft_items": {"queue": Queue.SCORING},
    "workers.tasks.rewards.*": {"queue": Queue.GPU},
    "workers.tasks.inspection.*": {"queue": Queue.GPU},
    "workers.tasks.reward_models.train_reward_model": {"queue": Queue.GPU},
    "workers.tasks.reward_models.*": {"queue": Queue.DEFAULT},
}
app.autodiscover_tasks(["workers"], related_name="tasks")
