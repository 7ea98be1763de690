"""REST API for rubrics: list and create, read and change, versions.

Every member reads rubrics (annotators rate by them); Capability.DESIGN_RUBRICS writes.
A version that labels or reward functions refer to never changes: changing the
rubric then adds a version, and `POST …/versions/` always adds one.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api_permissions import error_responses
from apps.core.parsers import JSONParser
from apps.rubrics.models import Rubric, RubricVersion
from apps.rubrics.selectors import (
    rubric_get,
    rubric_list,
    rubric_project_id,
    rubric_version_is_used,
    rubric_version_list,
)
from apps.rubrics.services import rubric_create, rubric_update, rubric_version_create

_CRITERIA_HELP = (
    "Criteria: `{name, description, scale: {min, max, labels: {point: meaning}}, weight}`."
)
_CATEGORIES_HELP = "Error categories for marked spans: `{name, description}`."


@extend_schema_field({"type": "array", "items": {"type": "object"}, "description": _CRITERIA_HELP})
class CriteriaField(serializers.JSONField):
    """Validated as a whole by the service, which names every problem."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, list):
            raise serializers.ValidationError("Give a list.")
        return value


@extend_schema_field(
    {"type": "array", "items": {"type": "object"}, "description": _CATEGORIES_HELP}
)
class CategoriesField(CriteriaField):
    """A rubric's error categories: the same list checks as criteria, its own schema text."""


@extend_schema_serializer(component_name="RubricVersion")
class VersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rubric = serializers.IntegerField(source="rubric_id")
    number = serializers.IntegerField()
    criteria = CriteriaField()
    error_categories = CategoriesField()
    guidelines = serializers.CharField(help_text="Markdown.")
    message = serializers.CharField()
    is_used = serializers.SerializerMethodField(
        help_text="Labels or reward functions refer to it: it never changes again."
    )
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_is_used(self, version: RubricVersion) -> bool:
        return rubric_version_is_used(version=version)


@extend_schema_serializer(component_name="RubricVersionSummary")
class VersionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Rubric")
class RubricOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    latest = serializers.SerializerMethodField(help_text="The version in force.")
    versions = VersionSummarySerializer(many=True, source="versions.all")

    @extend_schema_field(VersionOutputSerializer(allow_null=True))
    def get_latest(self, rubric: Rubric) -> dict[str, Any] | None:
        versions = list(rubric.versions.all())
        return VersionOutputSerializer(versions[0]).data if versions else None


def _rubric_for(user: User, rubric_id: int, capability: Capability) -> Rubric:
    project_id = rubric_project_id(pk=rubric_id)
    if project_id is None:
        raise Http404("No such rubric.")
    project = project_for_user(user=user, capability=capability, pk=project_id)
    rubric = rubric_get(project=project, pk=rubric_id)
    if rubric is None:
        raise Http404("No such rubric.")
    return rubric


class RubricListApi(GenericAPIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="RubricCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        criteria = CriteriaField(required=False, default=list)
        error_categories = CategoriesField(required=False, default=list)
        guidelines = serializers.CharField(required=False, allow_blank=True, default="")
        message = serializers.CharField(
            required=False, allow_blank=True, default="First version", max_length=300
        )

    @extend_schema(
        operation_id="rubric_list",
        tags=["rubrics"],
        summary="A project's rubrics, each with its version in force (any member)",
        responses={200: RubricOutputSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        page = self.paginate_queryset(rubric_list(project=project))
        return self.get_paginated_response(RubricOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="rubric_create",
        tags=["rubrics"],
        summary="Create a rubric with its first version (admin, designer)",
        request=InputSerializer,
        responses={201: RubricOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.DESIGN_RUBRICS, pk=project_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rubric = rubric_create(
            project=project, created_by=request.user, **serializer.validated_data
        )
        rubric = rubric_get(project=project, pk=rubric.pk)
        return Response(
            RubricOutputSerializer(rubric).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:rubric_detail", kwargs={"rubric_id": rubric.pk})},
        )


class RubricDetailApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="RubricUpdate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        criteria = CriteriaField(required=False)
        error_categories = CategoriesField(required=False)
        guidelines = serializers.CharField(required=False, allow_blank=True)
        message = serializers.CharField(required=False, allow_blank=True, max_length=300)

    @extend_schema(
        operation_id="rubric_retrieve",
        tags=["rubrics"],
        summary="One rubric with its version in force (any member)",
        responses={200: RubricOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, rubric_id: int) -> Response:
        rubric = _rubric_for(request.user, rubric_id, Capability.VIEW_PROJECT)
        return Response(RubricOutputSerializer(rubric).data)

    @extend_schema(
        operation_id="rubric_update",
        tags=["rubrics"],
        summary="Rename a rubric or change its content (admin, designer)",
        description=(
            "Content keys left out keep their current value. The latest version is changed"
            " in place while no label or reward function refers to it; otherwise the change"
            " becomes a new version and the used one stays as it was."
        ),
        request=InputSerializer,
        responses={200: RubricOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, rubric_id: int) -> Response:
        rubric = _rubric_for(request.user, rubric_id, Capability.DESIGN_RUBRICS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rubric_update(rubric=rubric, changes=serializer.validated_data, created_by=request.user)
        rubric = rubric_get(project=rubric.project, pk=rubric.pk)
        return Response(RubricOutputSerializer(rubric).data)


class RubricVersionListApi(GenericAPIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="RubricVersionCreate")
    class InputSerializer(serializers.Serializer):
        criteria = CriteriaField()
        error_categories = CategoriesField(required=False, default=list)
        guidelines = serializers.CharField(required=False, allow_blank=True, default="")
        message = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=300
        )

    @extend_schema(
        operation_id="rubric_version_list",
        tags=["rubrics"],
        summary="A rubric's versions, newest first (any member)",
        responses={200: VersionOutputSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, rubric_id: int) -> Response:
        rubric = _rubric_for(request.user, rubric_id, Capability.VIEW_PROJECT)
        page = self.paginate_queryset(rubric_version_list(rubric=rubric))
        return self.get_paginated_response(VersionOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="rubric_version_create",
        tags=["rubrics"],
        summary="Add the next version of a rubric; earlier versions never change (admin, designer)",
        request=InputSerializer,
        responses={201: VersionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, rubric_id: int) -> Response:
        rubric = _rubric_for(request.user, rubric_id, Capability.DESIGN_RUBRICS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = rubric_version_create(
            rubric=rubric, created_by=request.user, **serializer.validated_data
        )
        return Response(VersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)
