from __future__ import annotations

from django.apps import AppConfig


class RewardModelsConfig(AppConfig):
    name = "apps.reward_models"
    label = "reward_models"
    verbose_name = "Reward models"
