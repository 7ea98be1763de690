from __future__ import annotations

from django.contrib import admin

from apps.rubrics.models import Rubric, RubricVersion


class RubricVersionInline(admin.TabularInline):
    model = RubricVersion
    extra = 0
    fields = ["number", "message", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["name"]
    inlines = [RubricVersionInline]


@admin.register(RubricVersion)
class RubricVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: the admin shows them read-only."""

    list_display = ["rubric", "number", "message", "created_at"]
    list_filter = ["rubric__project"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
