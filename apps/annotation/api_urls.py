from __future__ import annotations

from django.urls import path

from apps.annotation import api

urlpatterns = [
    path(
        "projects/<int:project_id>/comparisons/",
        api.ComparisonListApi.as_view(),
        name="comparison_list",
    ),
    path(
        "projects/<int:project_id>/comparisons/next/",
        api.ComparisonNextApi.as_view(),
        name="comparison_next",
    ),
    path(
        "comparisons/<int:comparison_id>/",
        api.ComparisonDetailApi.as_view(),
        name="comparison_detail",
    ),
    path(
        "comparisons/<int:comparison_id>/labels/",
        api.LabelCreateApi.as_view(),
        name="label_create",
    ),
    path(
        "comparisons/<int:comparison_id>/skip/",
        api.AssignmentSkipApi.as_view(),
        name="comparison_skip",
    ),
    path("projects/<int:project_id>/labels/", api.LabelListApi.as_view(), name="label_list"),
]
