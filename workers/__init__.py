"""Celery entrypoints (workers.tasks) and Django-free ML code (workers.ml)."""
