"""REST API for exports: create one, follow it, download its files and card.

Every operation needs Capability.EXPORT_DATA (admin, designer): raw labels carry
annotator data.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.accounts.settings_schema import format_validation_error
from apps.core.api import openapi_schema
from apps.core.api_permissions import error_responses
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.selectors import export_get, export_list, export_project_id
from apps.exports.services import export_create


@extend_schema_field(openapi_schema(ExportOptions))
class OptionsField(serializers.JSONField):
    """The export's filters and settings, validated by `ExportOptions`."""


@extend_schema_serializer(component_name="ExportFile")
class FileOutputSerializer(serializers.Serializer):
    split = serializers.CharField(help_text="`train`, or `test` for a split export.")
    rows = serializers.IntegerField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    download = serializers.SerializerMethodField()

    def get_download(self, entry: dict[str, Any]) -> str:
        url = reverse("api:export_download", kwargs={"export_id": self.context["export_id"]})
        return f"{url}?file={entry['split']}"


@extend_schema_serializer(component_name="Export")
class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    format = serializers.ChoiceField(choices=Export.Format.choices)
    file_format = serializers.ChoiceField(choices=Export.FileFormat.choices)
    options = OptionsField()
    status = serializers.ChoiceField(choices=Export.Status.choices)
    items_total = serializers.IntegerField()
    items_done = serializers.IntegerField()
    fraction = serializers.FloatField(
        allow_null=True, help_text="0 to 1; null while the total is unknown or after a failure."
    )
    row_counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Split → rows written."
    )
    files = serializers.SerializerMethodField()
    card = serializers.CharField(help_text="The data card (README.md).")
    error = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(FileOutputSerializer(many=True))
    def get_files(self, export: Export) -> list[dict[str, Any]]:
        return FileOutputSerializer(export.files, many=True, context={"export_id": export.pk}).data


def _export_for(user: User, export_id: int) -> Export:
    project_id = export_project_id(pk=export_id)
    if project_id is None:
        raise Http404("No such export.")
    project: Project = project_for_user(user=user, capability=Capability.EXPORT_DATA, pk=project_id)
    export = export_get(project=project, pk=export_id)
    if export is None:
        raise Http404("No such export.")
    return export


class ExportListApi(GenericAPIView):
    @extend_schema_serializer(component_name="ExportFilter")
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=Export.Status.choices, required=False, help_text="Only exports in this state."
        )
        # Not `format`: DRF reads `?format=` as the renderer to answer with.
        export_format = serializers.ChoiceField(
            choices=Export.Format.choices,
            required=False,
            help_text="Only exports of this dataset format (the export's `format`).",
        )

    @extend_schema_serializer(component_name="ExportCreate")
    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=Export.Format.choices)
        file_format = serializers.ChoiceField(
            choices=Export.FileFormat.choices, default=Export.FileFormat.JSONL
        )
        options = OptionsField(required=False, default=dict)

        def validate_options(self, value: Any) -> ExportOptions:
            if not isinstance(value, dict):
                raise serializers.ValidationError("Must be an object.")
            try:
                return ExportOptions.model_validate(value)
            except PydanticValidationError as exc:
                raise serializers.ValidationError(format_validation_error(exc)) from None

    @extend_schema(
        operation_id="export_list",
        tags=["exports"],
        summary="A project's exports, newest first (admin, designer)",
        parameters=[FilterSerializer],
        responses={200: ExportOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.EXPORT_DATA, pk=project_id
        )
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        page = self.paginate_queryset(
            export_list(
                project=project, status=data.get("status"), export_format=data.get("export_format")
            )
        )
        return self.get_paginated_response(ExportOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="export_create",
        tags=["exports"],
        summary="Export the project's labels as a dataset (admin, designer)",
        description=(
            "Queued for a worker; follow it at `Location` (`exports/{id}/`). Turning "
            "`pseudonymise_annotators` off needs the admin role."
        ),
        request=InputSerializer,
        responses={202: ExportOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        user = request.user
        project = project_for_user(user=user, capability=Capability.EXPORT_DATA, pk=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        export = export_create(
            project=project,
            user=user,
            export_format=data["format"],
            file_format=data["file_format"],
            options=data["options"],
        )
        return Response(
            ExportOutputSerializer(export).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:export_detail", kwargs={"export_id": export.pk})},
        )


class ExportDetailApi(APIView):
    @extend_schema(
        operation_id="export_retrieve",
        tags=["exports"],
        summary="One export: status, progress, files with sha256, data card (admin, designer)",
        responses={200: ExportOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, export_id: int) -> Response:
        return Response(ExportOutputSerializer(_export_for(request.user, export_id)).data)


class ExportDownloadApi(APIView):
    @extend_schema(
        operation_id="export_download",
        tags=["exports"],
        summary="Download a file of a finished export, streamed (admin, designer)",
        parameters=[
            OpenApiParameter(
                "file",
                OpenApiTypes.STR,
                enum=["train", "test", "card"],
                default="train",
                description="The split's data file, or the data card (README.md).",
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The file, as an attachment."
            ),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, export_id: int) -> FileResponse:
        export = _export_for(request.user, export_id)
        key = request.query_params.get("file", "train")
        if export.status != Export.Status.SUCCEEDED:
            raise Http404("This export has no files (yet).")
        if key == "card":
            path = export.card_path
        else:
            entry = export.file_for(key)
            if entry is None:
                raise Http404("No such file in this export.")
            path = entry["path"]
        # Its name in storage: the one the data card lists (services.export_file_names).
        name = os.path.basename(path)
        return FileResponse(default_storage.open(path, "rb"), as_attachment=True, filename=name)
