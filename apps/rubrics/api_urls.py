from __future__ import annotations

from django.urls import path

from apps.rubrics import api

urlpatterns = [
    path("projects/<int:project_id>/rubrics/", api.RubricListApi.as_view(), name="rubric_list"),
    path("rubrics/<int:rubric_id>/", api.RubricDetailApi.as_view(), name="rubric_detail"),
    path(
        "rubrics/<int:rubric_id>/versions/",
        api.RubricVersionListApi.as_view(),
        name="rubric_version_list",
    ),
]
