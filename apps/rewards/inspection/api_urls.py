from __future__ import annotations

from django.urls import path

from apps.rewards.inspection import api

urlpatterns = [
    path(
        "reward-function-versions/<int:version_id>/inspections/",
        api.InspectionListApi.as_view(),
        name="inspection_list",
    ),
    path(
        "reward-function-versions/<int:version_id>/compare/<int:other_id>/",
        api.VersionCompareApi.as_view(),
        name="reward_function_version_compare",
    ),
    path(
        "inspections/<int:inspection_id>/",
        api.InspectionDetailApi.as_view(),
        name="inspection_detail",
    ),
    path(
        "inspections/<int:inspection_id>/accept-weights/",
        api.InspectionAcceptWeightsApi.as_view(),
        name="inspection_accept_weights",
    ),
]
