"""The Celery app. Settings come from Django's, under the CELERY_ prefix."""

from __future__ import annotations

import os

from celery import Celery

from workers.queues import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("palate")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Routing by module, in one place: each domain's tasks go to the queue of their kind
# of work (GPU hosts consume `gpu` with --concurrency=1).
app.conf.task_routes = {
    "workers.tasks.imports.*": {"queue": Queue.DEFAULT},
    "workers.tasks.exports.*": {"queue": Queue.DEFAULT},
    "workers.tasks.rewards.*": {"queue": Queue.GPU},
    "workers.tasks.inspection.*": {"queue": Queue.GPU},
    "workers.tasks.reward_models.train_reward_model": {"queue": Queue.GPU},
    "workers.tasks.reward_models.*": {"queue": Queue.DEFAULT},
}
app.autodiscover_tasks(["workers"], related_name="tasks")
