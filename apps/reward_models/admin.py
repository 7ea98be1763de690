from __future__ import annotations

from django.contrib import admin

from apps.reward_models.models import RetrainRule, RewardModel, TrainingRun


class _ReadOnly(admin.ModelAdmin):
    """Written by training, the promote service and the runs page; shown read-only."""

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(RewardModel)
class RewardModelAdmin(_ReadOnly):
    list_display = ["id", "project", "name", "head_kind", "backbone", "is_promoted", "created_at"]
    list_filter = ["head_kind", "is_promoted", "project"]
    search_fields = ["name"]
    readonly_fields = [field.name for field in RewardModel._meta.fields]


@admin.register(TrainingRun)
class TrainingRunAdmin(_ReadOnly):
    list_display = ["id", "project", "status", "trigger", "progress", "reward_model", "created_at"]
    list_filter = ["status", "trigger", "project"]
    readonly_fields = [field.name for field in TrainingRun._meta.fields]


@admin.register(RetrainRule)
class RetrainRuleAdmin(_ReadOnly):
    list_display = ["id", "project", "after_labels", "updated_at"]
    readonly_fields = [field.name for field in RetrainRule._meta.fields]
