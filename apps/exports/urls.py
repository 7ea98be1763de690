from __future__ import annotations

from django.urls import path

from apps.exports import views

app_name = "exports"

urlpatterns = [
    path("projects/<slug:slug>/exports/", views.export_list, name="export_list"),
    path("projects/<slug:slug>/exports/new/", views.export_create, name="export_create"),
    path(
        "projects/<slug:slug>/exports/<int:pk>/progress/",
        views.export_progress,
        name="export_progress",
    ),
    path(
        "projects/<slug:slug>/exports/<int:pk>/download/<str:key>/",
        views.export_download,
        name="export_download",
    ),
]
