from __future__ import annotations

from django.urls import path

from apps.reward_models import api

urlpatterns = [
    path(
        "projects/<int:project_id>/training-runs/",
        api.TrainingRunListApi.as_view(),
        name="training_run_list",
    ),
    path(
        "training-runs/<int:run_id>/",
        api.TrainingRunDetailApi.as_view(),
        name="training_run_detail",
    ),
    path(
        "training-runs/<int:run_id>/cancel/",
        api.TrainingRunCancelApi.as_view(),
        name="training_run_cancel",
    ),
    path(
        "projects/<int:project_id>/reward-models/",
        api.RewardModelListApi.as_view(),
        name="reward_model_list",
    ),
    path(
        "reward-models/<int:model_id>/promote/",
        api.RewardModelPromoteApi.as_view(),
        name="reward_model_promote",
    ),
]
