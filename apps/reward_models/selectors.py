from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import Project
from apps.reward_models.models import RewardModel


def reward_model_list(*, project: Project) -> QuerySet[RewardModel]:
    """A project's reward models, newest first."""
    return RewardModel.objects.filter(project=project)


def reward_model_for_scoring(*, project_id: int, model_id: int | None) -> RewardModel | None:
    """The given model of the project, or with no id its promoted model; None if there is none."""
    models = RewardModel.objects.filter(project_id=project_id)
    if model_id is None:
        return models.filter(is_promoted=True).first()
    return models.filter(pk=model_id).first()
