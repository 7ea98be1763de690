from __future__ import annotations

from django.urls import path

from apps.imports import views

app_name = "imports"

urlpatterns = [
    path("projects/<slug:slug>/imports/", views.import_list, name="import_list"),
    path("projects/<slug:slug>/imports/upload/", views.import_upload, name="import_upload"),
    path("projects/<slug:slug>/imports/<int:pk>/", views.import_detail, name="import_detail"),
    path(
        "projects/<slug:slug>/imports/<int:pk>/skipped/",
        views.import_skipped,
        name="import_skipped",
    ),
    path(
        "projects/<slug:slug>/imports/<int:pk>/progress/",
        views.import_progress,
        name="import_progress",
    ),
]
