from __future__ import annotations

from django.urls import path

from apps.exports import api

urlpatterns = [
    path("projects/<int:project_id>/exports/", api.ExportListApi.as_view(), name="export_list"),
    path("exports/<int:export_id>/", api.ExportDetailApi.as_view(), name="export_detail"),
    path(
        "exports/<int:export_id>/download/",
        api.ExportDownloadApi.as_view(),
        name="export_download",
    ),
]
