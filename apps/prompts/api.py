"""REST API for prompts with their responses.

Reading prompts needs Capability.VIEW_DATA: annotators judge blind, so they see
items in the workbench, never model names here. The writes (POST a batch of rows,
DELETE an unjudged prompt) extend these views in apps.imports.api, which routes both
paths: they need the import's writer and the annotation app.
"""

from __future__ import annotations

from django.http import Http404, QueryDict
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api_permissions import error_responses
from apps.prompts.models import Prompt
from apps.prompts.selectors import prompt_get, prompt_list

METADATA_PREFIX = "metadata."

_MESSAGE_SCHEMA = {
    "type": "object",
    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
    "required": ["role", "content"],
}


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": _MESSAGE_SCHEMA}],
        "description": "Plain text, or a chat transcript as a list of `{role, content}`.",
    }
)
class PromptInputField(serializers.JSONField):
    """A prompt's input: its OpenAPI shape is declared above, its value is plain JSON."""


@extend_schema_serializer(component_name="Response")
class ResponseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model = serializers.CharField(help_text="The model that wrote it, if known.")
    sampling_params = serializers.DictField()
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Prompt")
class PromptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    input = PromptInputField()
    references = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    group = serializers.CharField(help_text="Paraphrases of one intent share a group key.")
    created_at = serializers.DateTimeField()
    responses = ResponseOutputSerializer(many=True)


def _metadata_filters(query: QueryDict) -> dict[str, str]:
    """`?metadata.<key>=<value>` pairs as `{key: value}`; a malformed key is a 400."""
    filters = {}
    for name, value in query.items():
        if not name.startswith(METADATA_PREFIX):
            continue
        key = name.removeprefix(METADATA_PREFIX)
        # `__` would reach into Django's lookup syntax instead of naming a key.
        if not key or "__" in key:
            raise serializers.ValidationError(
                {name: ["Name one top-level metadata key, as in `metadata.kind=coding`."]}
            )
        filters[key] = value
    return filters


class PromptListApi(GenericAPIView):
    @extend_schema_serializer(component_name="PromptFilter")
    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text="Text in the prompt (any chat turn) or in one of its responses.",
        )
        group = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Exact group key."
        )

    @extend_schema(
        operation_id="prompt_list",
        tags=["prompts"],
        summary="A project's prompts with their responses (admin, designer, viewer)",
        description=(
            "Besides `search` and `group`, filter by top-level metadata keys with"
            " `?metadata.<key>=<value>` (compared as text, ignoring case), for example"
            " `?metadata.kind=coding&metadata.lang=de`; every filter must match."
        ),
        parameters=[FilterSerializer],
        responses={200: PromptOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        prompts = prompt_list(
            project=project,
            search=filters.validated_data["search"],
            group=filters.validated_data["group"],
            metadata=_metadata_filters(request.query_params),
            with_responses=True,
        )
        page = self.paginate_queryset(prompts)
        return self.get_paginated_response(PromptOutputSerializer(page, many=True).data)


class PromptDetailApi(APIView):
    @extend_schema(
        operation_id="prompt_retrieve",
        tags=["prompts"],
        summary="One prompt with its responses (admin, designer, viewer)",
        responses={200: PromptOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, prompt_id: int) -> ApiResponse:
        project_id = (
            Prompt.objects.filter(pk=prompt_id).values_list("project_id", flat=True).first()
        )
        if project_id is None:
            raise Http404("No such prompt.")
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        prompt = prompt_get(project=project, pk=prompt_id)
        if prompt is None:  # deleted in between
            raise Http404("No such prompt.")
        return ApiResponse(PromptOutputSerializer(prompt).data)
