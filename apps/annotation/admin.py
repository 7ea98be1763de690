from __future__ import annotations

from django.contrib import admin

from apps.annotation.models import Comparison, Label


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "priority", "labels_wanted", "is_gold"]
    list_filter = ["project", "is_gold"]
    raw_id_fields = ["prompt", "response_a", "response_b"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels are append-only: the admin can read them, never edit them."""

    list_display = ["id", "comparison", "annotator", "source", "choice", "strength", "created_at"]
    list_filter = ["source", "choice", "comparison__project"]
    raw_id_fields = ["comparison", "annotator", "supersedes", "rubric_version"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
