from __future__ import annotations

from django.urls import path

from apps.imports import api

urlpatterns = [
    path("projects/<int:project_id>/imports/", api.ImportListApi.as_view(), name="import_list"),
    path("imports/<int:import_id>/", api.ImportDetailApi.as_view(), name="import_detail"),
]
