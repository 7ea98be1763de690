from __future__ import annotations

from django.urls import path

from apps.reward_models import views

app_name = "reward_models"

urlpatterns = [
    path("projects/<slug:slug>/reward-models/", views.model_list, name="model_list"),
    path(
        "projects/<slug:slug>/reward-models/<int:pk>/promote/",
        views.model_promote,
        name="model_promote",
    ),
    path("projects/<slug:slug>/training-runs/", views.run_list, name="run_list"),
    path("projects/<slug:slug>/training-runs/new/", views.run_create, name="run_create"),
    path("projects/<slug:slug>/training-runs/rule/", views.rule_update, name="rule_update"),
    path("projects/<slug:slug>/training-runs/<int:pk>/", views.run_detail, name="run_detail"),
    path(
        "projects/<slug:slug>/training-runs/<int:pk>/progress/",
        views.run_progress,
        name="run_progress",
    ),
    path(
        "projects/<slug:slug>/training-runs/<int:pk>/cancel/",
        views.run_cancel,
        name="run_cancel",
    ),
]
