from __future__ import annotations

from django.urls import path

from apps.rewards import views

app_name = "rewards"

urlpatterns = [
    path("projects/<slug:slug>/rewards/", views.reward_function_list, name="function_list"),
    path("projects/<slug:slug>/rewards/new/", views.composer, name="function_create"),
    path("projects/<slug:slug>/rewards/formula/", views.formula_check, name="formula_check"),
    path("projects/<slug:slug>/rewards/try/", views.composer_try, name="composer_try"),
    path(
        "projects/<slug:slug>/rewards/<int:pk>/",
        views.reward_function_detail,
        name="function_detail",
    ),
    path("projects/<slug:slug>/rewards/<int:pk>/compose/", views.composer, name="compose"),
    path(
        "projects/<slug:slug>/rewards/versions/<int:pk>/",
        views.version_detail,
        name="version_detail",
    ),
    path(
        "projects/<slug:slug>/rewards/versions/<int:pk>/try/",
        views.version_try,
        name="version_try",
    ),
]
