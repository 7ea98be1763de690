from __future__ import annotations

from django.contrib import admin

from apps.prompts.models import Prompt, Response


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["model", "text", "sampling_params", "metadata"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "__str__", "group", "created_at"]
    list_filter = ["project"]
    search_fields = ["group", "content_hash"]
    readonly_fields = ["content_hash"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "model", "created_at"]
    list_filter = ["prompt__project", "model"]
    search_fields = ["model", "content_hash"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash"]
