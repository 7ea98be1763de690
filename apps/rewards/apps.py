from __future__ import annotations

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "apps.rewards"
    label = "rewards"
    verbose_name = "Reward functions"
