"""REST API for imports: upload a file, then follow the job's status, progress and errors.

Also the write side of `projects/{id}/prompts/`: a few prompt rows sent as JSON are
written at once by the import's own parser and writer (`prompts_write`), so the two
paths cannot drift apart. The route lives here because the prompts app may not import
the annotation app that makes comparisons; `PromptCollectionApi` extends the prompts
app's list view so that one path answers both GET and POST.

Reading imports needs Capability.VIEW_DATA, uploading and writing prompts
Capability.IMPORT_DATA.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api_permissions import error_responses
from apps.core.parsers import JSONParser, MultiPartParser
from apps.imports.models import ImportJob
from apps.imports.selectors import import_get, import_list, import_progress, import_skipped_report
from apps.imports.services import (
    API_MAX_ROWS,
    PromptInUse,
    import_create,
    prompt_delete,
    prompts_write,
)
from apps.prompts.api import PromptDetailApi, PromptInputField, PromptListApi
from apps.prompts.models import Prompt
from apps.prompts.selectors import prompt_get


@extend_schema_serializer(component_name="ImportProgress")
class ProgressOutputSerializer(serializers.Serializer):
    rows_processed = serializers.IntegerField()
    fraction = serializers.FloatField(
        allow_null=True, help_text="0 to 1; null while the total is unknown or after a failure."
    )
    phase = serializers.CharField(help_text="queued, reading, writing, succeeded or failed.")


@extend_schema_serializer(component_name="ImportJobSummary")
class ImportJobSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    original_name = serializers.CharField()
    file_format = serializers.ChoiceField(choices=ImportJob.Format.choices)
    size_bytes = serializers.IntegerField()
    created_by = serializers.CharField(
        source="created_by.username", allow_null=True, help_text="Who uploaded the file."
    )
    rows_total = serializers.IntegerField()
    prompts_created = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    comparisons_created = serializers.IntegerField()
    labels_created = serializers.IntegerField()
    skip_invalid = serializers.BooleanField(
        help_text="Whether invalid rows are skipped (and reported) rather than failing the file."
    )
    rows_skipped = serializers.IntegerField(
        help_text="Invalid rows left out; `rows_total - rows_skipped` rows were imported. "
        "A `succeeded` import with skipped rows is partial: see `skipped_report`."
    )
    error_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="ImportJob")
class ImportJobOutputSerializer(ImportJobSummarySerializer):
    errors = serializers.ListField(
        child=serializers.CharField(),
        help_text="Up to 50 problems as `row N, field F: reason`; `error_count` has them all. "
        "With skipped rows, the first problems of those rows.",
    )
    skipped_report = serializers.SerializerMethodField(
        help_text="Where to download the report of skipped rows (JSON Lines), or null."
    )
    rows_reported = serializers.IntegerField(
        help_text="How many of the skipped rows the report lists: all of them, or the first "
        "IMPORT_SKIPPED_REPORT_MAX_ROWS."
    )
    progress = serializers.SerializerMethodField()

    def get_skipped_report(self, job: ImportJob) -> str | None:
        if not job.skipped_report:
            return None
        return reverse("api:import_skipped", kwargs={"import_id": job.pk})

    @extend_schema_field(ProgressOutputSerializer)
    def get_progress(self, job: ImportJob) -> dict[str, Any]:
        return ProgressOutputSerializer(import_progress(job=job)).data


class ImportListApi(GenericAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema_serializer(component_name="ImportCreate")
    class InputSerializer(serializers.Serializer):
        # Empty files reach the service, which refuses them with its own message.
        file = serializers.FileField(
            allow_empty_file=True, help_text="A .jsonl, .csv or .parquet file."
        )
        skip_invalid = serializers.BooleanField(
            required=False,
            default=False,
            help_text=(
                "Import the valid rows and skip the invalid ones, keeping a report of them"
                " (`skipped_report`). Off by default: a file with any invalid row imports"
                " nothing. A problem after which the rows cannot be told apart (an unreadable"
                " file, a quote never closed, a row past the size limit, a broken last row)"
                " still fails the whole file."
            ),
        )

    @extend_schema(
        operation_id="import_list",
        tags=["imports"],
        summary="A project's imports, newest first (admin, designer, viewer)",
        responses={200: ImportJobSummarySerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        page = self.paginate_queryset(import_list(project=project))
        return self.get_paginated_response(ImportJobSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="import_create",
        tags=["imports"],
        summary="Upload a file to import (admin, designer)",
        description=(
            "The file is stored and queued; a worker reads it later, all or nothing unless"
            " `skip_invalid` is set. Follow the job at `Location` (`imports/{id}/`)."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={202: ImportJobOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        user = request.user
        project = project_for_user(user=user, capability=Capability.IMPORT_DATA, pk=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = import_create(
            project=project,
            created_by=user,
            upload=serializer.validated_data["file"],
            skip_invalid=serializer.validated_data["skip_invalid"],
        )
        return Response(
            ImportJobOutputSerializer(job).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:import_detail", kwargs={"import_id": job.pk})},
        )


def _import_for(request: Request, import_id: int) -> ImportJob:
    project_id = ImportJob.objects.filter(pk=import_id).values_list("project_id", flat=True).first()
    if project_id is None:
        raise Http404("No such import.")
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, pk=project_id)
    job = import_get(project=project, pk=import_id)
    if job is None:  # deleted in between
        raise Http404("No such import.")
    return job


class ImportDetailApi(APIView):
    @extend_schema(
        operation_id="import_retrieve",
        tags=["imports"],
        summary="One import: status, counts, progress and errors (admin, designer, viewer)",
        responses={200: ImportJobOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, import_id: int) -> Response:
        return Response(ImportJobOutputSerializer(_import_for(request, import_id)).data)


class ImportSkippedApi(APIView):
    @extend_schema(
        operation_id="import_skipped_report",
        tags=["imports"],
        summary="The rows an import skipped, as JSON Lines (admin, designer, viewer)",
        description=(
            "One line per skipped row: `{row, errors: [{field, reason}], data}`, where"
            " `data` is the row as read, in the import's JSON shape (null when the row could"
            " not be decoded), ready to fix and import again. 404 when no row was skipped."
        ),
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The report, as an attachment."
            ),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, import_id: int) -> FileResponse:
        report = import_skipped_report(job=_import_for(request, import_id))
        if report is None:
            raise Http404("This import skipped no rows.")
        return FileResponse(
            report.file, as_attachment=True, filename=report.name, content_type=report.content_type
        )


@extend_schema_serializer(component_name="ResponseRow")
class ResponseRowSerializer(serializers.Serializer):
    """Described for the schema; rows are validated by `apps.imports.rows.parse_row`."""

    text = serializers.CharField()
    model = serializers.CharField(required=False)
    sampling_params = serializers.DictField(required=False)
    metadata = serializers.DictField(required=False, help_text="Other keys are kept here too.")


@extend_schema_serializer(component_name="PromptRow")
class PromptRowSerializer(serializers.Serializer):
    """Described for the schema; rows are validated by `apps.imports.rows.parse_row`."""

    prompt = PromptInputField()
    responses = ResponseRowSerializer(many=True, min_length=1)
    reference = serializers.CharField(required=False, help_text="Or a list of references.")
    metadata = serializers.DictField(required=False, help_text="Other keys are kept here too.")
    group = serializers.CharField(required=False)


@extend_schema_serializer(component_name="PromptsWritten")
class PromptsWrittenSerializer(serializers.Serializer):
    prompt_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="One per row, in row order."
    )
    prompts_created = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    comparisons_created = serializers.IntegerField()


class PromptCollectionApi(PromptListApi):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="prompt_create",
        tags=["prompts"],
        summary="Add prompts with their responses, as an import would (admin, designer)",
        description=(
            "The body is one row or a list of rows in the import's prompt shape; up to"
            f" {API_MAX_ROWS} rows, upload a file to `imports/` for more. All or nothing:"
            " with any bad row nothing is written and `details.rows` lists every problem as"
            " `{row, field, message}`, rows counted from 1. Idempotent by content: a prompt"
            " or response already in the project is reused (201 when anything was new, 200"
            " otherwise). New responses get the comparisons the project's settings ask for."
        ),
        request=PolymorphicProxySerializer(
            component_name="PromptWrite",
            serializers=[PromptRowSerializer, PromptRowSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PromptsWrittenSerializer,
            200: PromptsWrittenSerializer,
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.IMPORT_DATA, pk=project_id
        )
        body = request.data
        if isinstance(body, dict):
            rows = [body]
        elif isinstance(body, list):
            rows = body
        else:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send one prompt row as an object, or a list of them."]}
            )
        written = prompts_write(project=project, rows=rows)
        anything_new = written.prompts_created or written.responses_created
        return Response(
            PromptsWrittenSerializer(written).data,
            status=status.HTTP_201_CREATED if anything_new else status.HTTP_200_OK,
        )


class PromptConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The prompt is in use."


class PromptItemApi(PromptDetailApi):
    @extend_schema(
        operation_id="prompt_destroy",
        tags=["prompts"],
        summary="Delete a prompt that nobody has judged (admin, designer)",
        description=(
            "Deletes the prompt with its responses, their comparisons, leases and scores."
            " A prompt with labels is kept: 409. Prompts are not edited in place: their"
            " content is their identity (imports and `POST prompts/` match by it); delete an"
            " unjudged prompt and send it again instead."
        ),
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(401, 403, 404, 409),
        },
    )
    def delete(self, request: Request, prompt_id: int) -> Response:
        project_id = (
            Prompt.objects.filter(pk=prompt_id).values_list("project_id", flat=True).first()
        )
        if project_id is None:
            raise Http404("No such prompt.")
        project = project_for_user(
            user=request.user, capability=Capability.IMPORT_DATA, pk=project_id
        )
        prompt = prompt_get(project=project, pk=prompt_id)
        if prompt is None:  # deleted in between
            raise Http404("No such prompt.")
        try:
            prompt_delete(prompt=prompt)
        except PromptInUse as exc:
            raise PromptConflict(exc.message) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
