from __future__ import annotations

from django.urls import path

from apps.prompts import views

app_name = "prompts"

urlpatterns = [
    path("projects/<slug:slug>/prompts/", views.prompt_list, name="prompt_list"),
    path("projects/<slug:slug>/prompts/<int:pk>/", views.prompt_detail, name="prompt_detail"),
]
