from __future__ import annotations

from django.urls import path

from apps.annotation import list_views, quality_views, views

app_name = "annotation"

urlpatterns = [
    path("annotate/", views.home, name="home"),
    path("projects/<slug:slug>/annotate/", views.workbench, name="workbench"),
    path("projects/<slug:slug>/annotate/next/", views.item_next, name="item_next"),
    path("projects/<slug:slug>/annotate/undo/", views.label_undo, name="label_undo"),
    path("projects/<slug:slug>/annotate/<int:pk>/submit/", views.label_submit, name="label_submit"),
    path("projects/<slug:slug>/annotate/<int:pk>/skip/", views.item_skip, name="item_skip"),
    path("projects/<slug:slug>/annotate/<int:pk>/flag/", views.item_flag, name="item_flag"),
    path("projects/<slug:slug>/comparisons/", list_views.comparison_list, name="comparison_list"),
    path("projects/<slug:slug>/labels/", list_views.label_list, name="label_list"),
    path("projects/<slug:slug>/quality/", quality_views.quality, name="quality"),
    path("projects/<slug:slug>/quality/status/", quality_views.quality_status,
         name="quality_status"),
    path("projects/<slug:slug>/quality/recompute/", quality_views.quality_recompute,
         name="quality_recompute"),
    path("projects/<slug:slug>/quality/annotators/", quality_views.annotator_list,
         name="quality_annotators"),
    path("projects/<slug:slug>/quality/annotators/<int:user_id>/", quality_views.annotator_report,
         name="quality_annotator"),
    path("projects/<slug:slug>/quality/annotators/<int:user_id>/resume/",
         quality_views.annotator_resume, name="annotator_resume"),
    path("projects/<slug:slug>/review/", quality_views.review_list, name="review_list"),
    path("projects/<slug:slug>/review/<int:pk>/", quality_views.review_item, name="review_item"),
    path("projects/<slug:slug>/review/<int:pk>/decide/", quality_views.review_decide,
         name="review_decide"),
    path("projects/<slug:slug>/gold/", quality_views.gold_list, name="gold_list"),
    path("projects/<slug:slug>/gold/mark/", quality_views.gold_mark, name="gold_mark"),
]  # fmt: skip
