from __future__ import annotations

from django.urls import path

from apps.rewards import api

urlpatterns = [
    path(
        "projects/<int:project_id>/reward-functions/",
        api.RewardFunctionListApi.as_view(),
        name="reward_function_list",
    ),
    path(
        "reward-functions/<int:function_id>/",
        api.RewardFunctionDetailApi.as_view(),
        name="reward_function_detail",
    ),
    path(
        "reward-functions/<int:function_id>/versions/",
        api.RewardFunctionVersionListApi.as_view(),
        name="reward_function_version_list",
    ),
    path(
        "reward-function-versions/<int:version_id>/",
        api.RewardFunctionVersionDetailApi.as_view(),
        name="reward_function_version_detail",
    ),
    path(
        "reward-function-versions/<int:version_id>/score/",
        api.ScoreApi.as_view(),
        name="reward_function_version_score",
    ),
    path(
        "reward-function-versions/<int:version_id>/score-runs/",
        api.ScoreRunListApi.as_view(),
        name="score_run_list",
    ),
    path(
        "reward-function-versions/<int:version_id>/scores/",
        api.ScoreListApi.as_view(),
        name="score_list",
    ),
    path("score-runs/<int:run_id>/", api.ScoreRunDetailApi.as_view(), name="score_run_detail"),
]
