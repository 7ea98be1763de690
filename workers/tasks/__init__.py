"""Thin Celery entrypoints, one module per domain; they import workers.ml lazily."""

from __future__ import annotations

from workers.tasks.exports import run_export
from workers.tasks.imports import run_import
from workers.tasks.inspection import inspect_reward
from workers.tasks.reward_models import retrain_if_due, train_reward_model
from workers.tasks.rewards import score_items, score_responses

__all__ = [
    "inspect_reward",
    "retrain_if_due",
    "run_export",
    "run_import",
    "score_items",
    "score_responses",
    "train_reward_model",
]
