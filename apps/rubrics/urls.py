from __future__ import annotations

from django.urls import path

from apps.rubrics import views

app_name = "rubrics"

urlpatterns = [
    path("projects/<slug:slug>/rubrics/", views.rubric_list, name="rubric_list"),
    path("projects/<slug:slug>/rubrics/new/", views.rubric_edit, name="rubric_create"),
    path("projects/<slug:slug>/rubrics/<int:pk>/", views.rubric_detail, name="rubric_detail"),
    path("projects/<slug:slug>/rubrics/<int:pk>/edit/", views.rubric_edit, name="rubric_edit"),
    path(
        "projects/<slug:slug>/rubrics/<int:pk>/diff/",
        views.rubric_version_diff,
        name="rubric_diff",
    ),
]
