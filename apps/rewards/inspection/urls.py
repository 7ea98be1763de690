from __future__ import annotations

from django.urls import path

from apps.rewards.inspection import views

app_name = "inspector"

urlpatterns = [
    path("projects/<slug:slug>/inspector/", views.inspector_index, name="index"),
    path("projects/<slug:slug>/inspector/compare/", views.inspector_compare, name="compare"),
    path(
        "projects/<slug:slug>/inspector/versions/<int:version_id>/",
        views.inspector_version,
        name="version",
    ),
    path(
        "projects/<slug:slug>/inspector/versions/<int:version_id>/inspect/",
        views.inspection_start,
        name="start",
    ),
    path(
        "projects/<slug:slug>/inspector/inspections/<int:pk>/progress/",
        views.inspection_progress,
        name="progress",
    ),
    path(
        "projects/<slug:slug>/inspector/inspections/<int:pk>/accept-weights/",
        views.inspection_accept_weights,
        name="accept_weights",
    ),
]
