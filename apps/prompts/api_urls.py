from __future__ import annotations

from django.urls import path

from apps.prompts import api

urlpatterns = [
    path("projects/<int:project_id>/prompts/", api.PromptListApi.as_view(), name="prompt_list"),
    path("prompts/<int:prompt_id>/", api.PromptDetailApi.as_view(), name="prompt_detail"),
]
