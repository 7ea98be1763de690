from __future__ import annotations

from django.contrib import admin

from apps.annotation.models import (
    AgreementReport,
    AnnotatorStatus,
    Assignment,
    Comparison,
    Flag,
    Label,
    ReviewDecision,
)


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = [
        "id", "project", "prompt", "kind", "priority", "labels_done", "labels_wanted", "is_gold",
    ]  # fmt: skip
    list_filter = ["project", "kind", "is_gold"]
    raw_id_fields = ["prompt", "response_a", "response_b", "ranked_responses"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    """Leases are the queue's bookkeeping: readable here, changed only by the queue."""

    list_display = ["id", "comparison", "annotator", "status", "leased_at", "expires_at"]
    list_filter = ["status", "project"]
    raw_id_fields = ["comparison", "annotator", "project"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["id", "comparison", "user", "reason", "created_at", "resolved_at"]
    list_filter = ["resolved_at"]
    raw_id_fields = ["comparison", "user"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels are append-only: the admin can read them, never edit them."""

    list_display = ["id", "comparison", "annotator", "source", "choice", "strength", "created_at"]
    list_filter = ["source", "choice", "comparison__project"]
    raw_id_fields = ["comparison", "annotator", "supersedes", "rubric_version", "assignment"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """Decisions are append-only, like labels."""

    list_display = ["id", "comparison", "reviewer", "choice", "strength", "created_at"]
    list_filter = ["choice", "comparison__project"]
    raw_id_fields = ["comparison", "reviewer"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(AnnotatorStatus)
class AnnotatorStatusAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "paused_at", "pause_reason", "resumed_at"]
    list_filter = ["project"]
    raw_id_fields = ["project", "user", "resumed_by"]


@admin.register(AgreementReport)
class AgreementReportAdmin(admin.ModelAdmin):
    """Written by the worker only: readable here, never edited."""

    list_display = ["id", "project", "computed_at", "compute_seconds", "requested_at"]
    raw_id_fields = ["project"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
