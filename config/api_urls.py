"""The REST API under /api/: version 1 of every app's resources, the schema and its docs.

Names live in the `api` namespace (`reverse("api:project_list")`). The Swagger page
is the split view, which serves its start-up script as a file: the
Content-Security-Policy forbids inline scripts. (No Redoc: it needs inline styles.)
"""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

app_name = "api"

v1 = [
    # First: the labelling calls, made for every judgment, resolve without trying the
    # others (no two apps' paths overlap, so the order decides nothing else).
    path("", include("apps.annotation.api_urls")),
    path("", include("apps.accounts.api_urls")),
    # Also the prompts: their views (apps.prompts.api) gain their writes in apps.imports.
    path("", include("apps.imports.api_urls")),
    path("", include("apps.exports.api_urls")),
    path("", include("apps.rewards.api_urls")),
    path("", include("apps.rubrics.api_urls")),
    path("", include("apps.rewards.inspection.api_urls")),
    path("", include("apps.reward_models.api_urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # GET and HEAD: OPTIONS would be answered through the page's HTML renderer, which has no
    # template for it (a 500); the page has nothing to describe.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", http_method_names=["get", "head"]
        ),
        name="docs",
    ),
]
