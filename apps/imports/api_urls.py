from __future__ import annotations

from django.urls import path

from apps.imports import api

urlpatterns = [
    # GET lists prompts (apps.prompts.api.PromptListApi); POST writes them as an import.
    path(
        "projects/<int:project_id>/prompts/",
        api.PromptCollectionApi.as_view(),
        name="prompt_list",
    ),
    # GET reads a prompt (apps.prompts.api.PromptDetailApi); DELETE removes an unjudged one.
    path("prompts/<int:prompt_id>/", api.PromptItemApi.as_view(), name="prompt_detail"),
    path("projects/<int:project_id>/imports/", api.ImportListApi.as_view(), name="import_list"),
    path("imports/<int:import_id>/", api.ImportDetailApi.as_view(), name="import_detail"),
    path("imports/<int:import_id>/skipped/", api.ImportSkippedApi.as_view(), name="import_skipped"),
]
