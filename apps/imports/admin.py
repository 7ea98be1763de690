from __future__ import annotations

from django.contrib import admin

from apps.imports.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Import jobs are written by the import service; the admin shows them read-only."""

    list_display = [
        "id", "project", "original_name", "status", "rows_total", "rows_skipped", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "file_format", "project"]
    search_fields = ["original_name"]
    readonly_fields = [field.name for field in ImportJob._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
