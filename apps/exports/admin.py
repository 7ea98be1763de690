from __future__ import annotations

from django.contrib import admin

from apps.exports.models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Exports are written by the export service; the admin shows them read-only."""

    list_display = ["id", "project", "format", "file_format", "status", "created_at"]
    list_filter = ["status", "format", "file_format", "project"]
    readonly_fields = [field.name for field in Export._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
