from __future__ import annotations

from django.contrib import admin

from apps.rewards.models import (
    Embedding,
    Inspection,
    RewardFunction,
    RewardFunctionVersion,
    Score,
    ScoreRun,
)


@admin.register(RewardFunction)
class RewardFunctionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name", "created_at"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(RewardFunctionVersion)
class RewardFunctionVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: the admin shows them and never edits them."""

    list_display = ["id", "function", "number", "fitted_at", "created_at"]
    list_filter = ["function__project"]
    readonly_fields = [field.name for field in RewardFunctionVersion._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    """Scores are written by score runs; shown read-only."""

    list_display = ["id", "version", "response_id", "total", "created_at"]
    list_select_related = ["version__function"]
    readonly_fields = [field.name for field in Score._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(ScoreRun)
class ScoreRunAdmin(admin.ModelAdmin):
    """Score runs are jobs written by workers; shown read-only."""

    list_display = ["id", "version", "status", "responses_scored", "responses_total", "created_at"]
    list_filter = ["status", "project"]
    readonly_fields = [field.name for field in ScoreRun._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    """The embedding cache; rows can be deleted to force re-encoding."""

    list_display = ["id", "backbone", "text_hash", "dimensions", "created_at"]
    list_filter = ["backbone"]
    search_fields = ["text_hash"]
    readonly_fields = [field.name for field in Embedding._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Inspection)
class InspectionAdmin(admin.ModelAdmin):
    """Inspections are jobs written by workers; shown read-only."""

    list_display = ["id", "version", "status", "stage", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    list_select_related = ["version__function"]
    readonly_fields = [field.name for field in Inspection._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
