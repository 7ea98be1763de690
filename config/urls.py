from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.prompts.urls")),
    path("", include("apps.imports.urls")),
    path("", include("apps.exports.urls")),
    path("", include("apps.annotation.urls")),
    path("", include("apps.rubrics.urls")),
    path("", include("apps.rewards.urls")),
    path("", include("apps.rewards.inspection.urls")),
    path("", include("apps.reward_models.urls")),
]

# Under /api/ the answers of paths no view matches, and of crashes, keep the API's error shape.
handler404 = "apps.core.api.not_found"
handler500 = "apps.core.api.server_error"
