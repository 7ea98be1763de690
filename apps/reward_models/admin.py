from __future__ import annotations

from django.contrib import admin

from apps.reward_models.models import RewardModel


@admin.register(RewardModel)
class RewardModelAdmin(admin.ModelAdmin):
    """Reward models are written by training and the promote service; shown read-only."""

    list_display = ["id", "project", "name", "head_kind", "backbone", "is_promoted", "created_at"]
    list_filter = ["head_kind", "is_promoted", "project"]
    search_fields = ["name"]
    readonly_fields = [field.name for field in RewardModel._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
