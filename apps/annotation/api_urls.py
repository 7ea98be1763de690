from __future__ import annotations

from django.urls import path

from apps.annotation import api, quality_api

urlpatterns = [
    path(
        "projects/<int:project_id>/comparisons/",
        api.ComparisonListApi.as_view(),
        name="comparison_list",
    ),
    path(
        "projects/<int:project_id>/comparisons/next/",
        api.ComparisonNextApi.as_view(),
        name="comparison_next",
    ),
    path(
        "comparisons/<int:comparison_id>/",
        api.ComparisonDetailApi.as_view(),
        name="comparison_detail",
    ),
    path(
        "comparisons/<int:comparison_id>/labels/",
        api.LabelCreateApi.as_view(),
        name="label_create",
    ),
    path(
        "comparisons/<int:comparison_id>/skip/",
        api.AssignmentSkipApi.as_view(),
        name="comparison_skip",
    ),
    path("projects/<int:project_id>/labels/", api.LabelListApi.as_view(), name="label_list"),
    path("projects/<int:project_id>/agreement/", quality_api.AgreementReportApi.as_view(),
         name="agreement_report"),
    path("projects/<int:project_id>/agreement/refresh/",
         quality_api.AgreementRefreshApi.as_view(), name="agreement_refresh"),
    path("projects/<int:project_id>/annotator-reports/",
         quality_api.AnnotatorReportsApi.as_view(), name="annotator_reports"),
    path("projects/<int:project_id>/review-queue/", quality_api.ReviewQueueApi.as_view(),
         name="review_queue"),
    path("comparisons/<int:comparison_id>/review/", quality_api.ReviewDecisionApi.as_view(),
         name="review_decide"),
    path("comparisons/<int:comparison_id>/gold/", quality_api.GoldApi.as_view(),
         name="comparison_gold"),
]  # fmt: skip
