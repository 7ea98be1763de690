"""REST API for reward functions: compose versions, score items now, score a project as a job.

Reading needs Capability.VIEW_DATA; creating functions, versions and score runs
Capability.DESIGN_REWARDS; the synchronous scoring endpoint Capability.SCORE_REWARDS.
A bad spec answers 400 with every problem as a sentence under `details.spec`.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api_permissions import error_responses
from apps.prompts.models import Prompt
from apps.rewards.models import RewardFunction, RewardFunctionVersion, ScoreRun
from apps.rewards.selectors import (
    reward_function_get,
    reward_function_list,
    reward_function_project_id,
    reward_function_version_get,
    reward_function_version_list,
    reward_function_version_project_id,
    score_list,
    score_run_get,
    score_run_list,
    score_run_project_id,
)
from apps.rewards.services import (
    WorkerTimeout,
    reward_function_create,
    reward_function_update,
    reward_function_version_create,
    score_items_remote,
    score_request_check,
    score_run_create,
)

_SPEC_HELP = "A reward spec: `components`, optional `transforms`, and `combine` (see the README)."


class ScoringUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "worker_timeout"
    default_detail = "No scoring worker answered in time."


@extend_schema_field({"type": "object", "additionalProperties": True, "description": _SPEC_HELP})
class SpecField(serializers.JSONField):
    """A reward spec; validated as a whole by the service, which lists every problem."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the spec as a JSON object.")
        return value


@extend_schema_serializer(component_name="RewardFunctionVersionSummary")
class VersionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    function = serializers.IntegerField(source="function_id")
    number = serializers.IntegerField()
    message = serializers.CharField()
    is_fitted = serializers.BooleanField(
        help_text="Transform statistics are stored; the scoring endpoint can use this version."
    )
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="RewardFunctionVersion")
class VersionOutputSerializer(VersionSummarySerializer):
    project = serializers.IntegerField(source="function.project_id")
    spec = SpecField()
    fitted = serializers.JSONField(
        allow_null=True, help_text="Fitted transform statistics, per component."
    )
    fitted_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    score_count = serializers.IntegerField(default=0)


@extend_schema_serializer(component_name="RewardFunction")
class FunctionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    versions = VersionSummarySerializer(many=True, source="versions.all")


@extend_schema_serializer(component_name="RewardFunctionCreated")
class FunctionCreatedSerializer(FunctionOutputSerializer):
    version = serializers.IntegerField(help_text="The id of the first version.")


def _function_for(user: User, function_id: int, capability: Capability) -> RewardFunction:
    project_id = reward_function_project_id(pk=function_id)
    if project_id is None:
        raise Http404("No such reward function.")
    project = project_for_user(user=user, capability=capability, pk=project_id)
    function = reward_function_get(project=project, pk=function_id)
    if function is None:
        raise Http404("No such reward function.")
    return function


def _version_for(user: User, version_id: int, capability: Capability) -> RewardFunctionVersion:
    project_id = reward_function_version_project_id(pk=version_id)
    if project_id is None:
        raise Http404("No such reward function version.")
    project = project_for_user(user=user, capability=capability, pk=project_id)
    version = reward_function_version_get(project=project, pk=version_id)
    if version is None:
        raise Http404("No such reward function version.")
    return version


class RewardFunctionListApi(GenericAPIView):
    @extend_schema_serializer(component_name="RewardFunctionCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        message = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=300
        )
        spec = SpecField()

    @extend_schema(
        operation_id="reward_function_list",
        tags=["rewards"],
        summary="A project's reward functions with their versions (admin, designer, viewer)",
        responses={200: FunctionOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        page = self.paginate_queryset(reward_function_list(project=project))
        return self.get_paginated_response(FunctionOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="reward_function_create",
        tags=["rewards"],
        summary="Create a reward function and its first version (admin, designer)",
        request=InputSerializer,
        responses={201: FunctionCreatedSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        user = request.user
        project = project_for_user(user=user, capability=Capability.DESIGN_REWARDS, pk=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = reward_function_create(
            project=project,
            name=data["name"],
            description=data["description"],
            message=data["message"],
            spec=data["spec"],
            created_by=user,
        )
        function = reward_function_get(project=project, pk=version.function_id)
        body = {**FunctionOutputSerializer(function).data, "version": version.pk}
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={
                "Location": reverse(
                    "api:reward_function_detail", kwargs={"function_id": body["id"]}
                )
            },
        )


class RewardFunctionDetailApi(APIView):
    @extend_schema(
        operation_id="reward_function_retrieve",
        tags=["rewards"],
        summary="One reward function with its versions (admin, designer, viewer)",
        responses={200: FunctionOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, function_id: int) -> Response:
        function = _function_for(request.user, function_id, Capability.VIEW_DATA)
        return Response(FunctionOutputSerializer(function).data)

    @extend_schema_serializer(component_name="RewardFunctionUpdate")
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(
        operation_id="reward_function_update",
        tags=["rewards"],
        summary="Rename a reward function or change its description (admin, designer)",
        description=(
            "Only `name` and `description` change; what the function computes lives in its"
            " versions, which never change: add one with `reward-functions/{id}/versions/`."
        ),
        request=UpdateSerializer,
        responses={200: FunctionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, function_id: int) -> Response:
        function = _function_for(request.user, function_id, Capability.DESIGN_REWARDS)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reward_function_update(function=function, **serializer.validated_data)
        function = reward_function_get(project=function.project, pk=function.pk)
        return Response(FunctionOutputSerializer(function).data)


class RewardFunctionVersionListApi(GenericAPIView):
    @extend_schema_serializer(component_name="RewardFunctionVersionCreate")
    class InputSerializer(serializers.Serializer):
        message = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=300
        )
        spec = SpecField()

    @extend_schema(
        operation_id="reward_function_version_list",
        tags=["rewards"],
        summary="A reward function's versions, newest first (admin, designer, viewer)",
        responses={200: VersionOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, function_id: int) -> Response:
        function = _function_for(request.user, function_id, Capability.VIEW_DATA)
        page = self.paginate_queryset(reward_function_version_list(function=function))
        return self.get_paginated_response(VersionOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="reward_function_version_create",
        tags=["rewards"],
        summary="Add a version to a reward function (admin, designer)",
        request=InputSerializer,
        responses={201: VersionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, function_id: int) -> Response:
        function = _function_for(request.user, function_id, Capability.DESIGN_REWARDS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = reward_function_version_create(
            function=function,
            spec=serializer.validated_data["spec"],
            message=serializer.validated_data["message"],
            created_by=request.user,
        )
        version = reward_function_version_get(project=function.project, pk=version.pk)
        return Response(
            VersionOutputSerializer(version).data,
            status=status.HTTP_201_CREATED,
            headers={
                "Location": reverse(
                    "api:reward_function_version_detail", kwargs={"version_id": version.pk}
                )
            },
        )


class RewardFunctionVersionDetailApi(APIView):
    @extend_schema(
        operation_id="reward_function_version_retrieve",
        tags=["rewards"],
        summary="One version: spec and fitted statistics (admin, designer, viewer)",
        responses={200: VersionOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.VIEW_DATA)
        return Response(VersionOutputSerializer(version).data)


_MESSAGE = {
    "type": "object",
    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
    "required": ["role", "content"],
}


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": _MESSAGE}],
        "description": "Plain text, or a chat transcript as a list of `{role, content}`.",
    }
)
class PromptField(serializers.JSONField):
    """A prompt as text or chat turns; scored as the text a stored prompt would give."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        is_chat = isinstance(value, list) and all(
            isinstance(turn, dict)
            and set(turn) == {"role", "content"}
            and all(isinstance(v, str) for v in turn.values())
            for turn in value
        )
        if not isinstance(value, str) and not is_chat:
            raise serializers.ValidationError(
                "Give a string, or a list of {role, content} with string values."
            )
        return Prompt(input=value).text


@extend_schema_serializer(component_name="ScoreResult")
class ScoreResultSerializer(serializers.Serializer):
    reward = serializers.FloatField(allow_null=True, help_text="Null when it is missing.")
    components = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Each component's raw value (before transforms) by name.",
    )


@extend_schema_serializer(component_name="ScoreAnswer")
class ScoreAnswerSerializer(serializers.Serializer):
    results = ScoreResultSerializer(many=True)


class ScoreApi(APIView):
    @extend_schema_serializer(component_name="ScoreItem")
    class ItemSerializer(serializers.Serializer):
        prompt = PromptField()
        response = serializers.CharField(allow_blank=True, trim_whitespace=False)
        reference = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, trim_whitespace=False, default=None
        )

    @extend_schema_serializer(component_name="ScoreRequest")
    class InputSerializer(serializers.Serializer):
        items = serializers.ListField(min_length=1)

    @extend_schema(
        operation_id="reward_function_version_score",
        tags=["rewards"],
        summary="Score up to 256 items now (admin, designer)",
        description=(
            "A worker on the `scoring` queue computes the rewards while the request waits"
            " (SCORE_TIMEOUT_SECONDS; 503 when no worker answers in time). Results come in the"
            " order of `items`. More items: create a score run over the project instead."
        ),
        request={
            "application/json": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "maxItems": 256,
                        "items": {
                            "type": "object",
                            "properties": {
                                "prompt": {
                                    "oneOf": [
                                        {"type": "string"},
                                        {"type": "array", "items": _MESSAGE},
                                    ]
                                },
                                "response": {"type": "string"},
                                "reference": {"type": "string", "nullable": True},
                            },
                            "required": ["prompt", "response"],
                        },
                    }
                },
                "required": ["items"],
            }
        },  # fmt: skip
        responses={200: ScoreAnswerSerializer, **error_responses(400, 401, 403, 404, 503)},
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.SCORE_REWARDS)
        envelope = self.InputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        raw_items = envelope.validated_data["items"]
        score_request_check(version=version, count=len(raw_items))
        items = self.ItemSerializer(data=raw_items, many=True)
        if not items.is_valid():
            raise serializers.ValidationError({"items": items.errors})
        try:
            answer = score_items_remote(version=version, items=list(items.validated_data))
        except WorkerTimeout as exc:
            raise ScoringUnavailable(str(exc), code=exc.code) from None
        return Response(answer)


@extend_schema_serializer(component_name="ScoreRun")
class ScoreRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="version_id")
    project = serializers.IntegerField(source="project_id")
    status = serializers.ChoiceField(choices=ScoreRun.Status.choices)
    responses_total = serializers.IntegerField()
    responses_scored = serializers.IntegerField()
    fraction = serializers.FloatField(allow_null=True, help_text="0 to 1; null after a failure.")
    fitted_here = serializers.BooleanField(
        help_text="This run fitted the version's transform statistics."
    )
    error = serializers.CharField()
    is_waiting_for_worker = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ScoreRunListApi(GenericAPIView):
    @extend_schema(
        operation_id="score_run_list",
        tags=["rewards"],
        summary="A version's score runs, newest first (admin, designer, viewer)",
        responses={200: ScoreRunOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.VIEW_DATA)
        page = self.paginate_queryset(score_run_list(version=version))
        return self.get_paginated_response(ScoreRunOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="score_run_create",
        tags=["rewards"],
        summary="Score every response of the project with this version, as a job (admin, designer)",
        description=(
            "The first run of a version whose transforms need statistics fits them on the"
            " project's responses and stores them in the version. Follow the job at `Location`."
        ),
        request=None,
        responses={202: ScoreRunOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.DESIGN_REWARDS)
        run = score_run_create(version=version, created_by=request.user)
        return Response(
            ScoreRunOutputSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:score_run_detail", kwargs={"run_id": run.pk})},
        )


class ScoreRunDetailApi(APIView):
    @extend_schema(
        operation_id="score_run_retrieve",
        tags=["rewards"],
        summary="One score run: status, progress, error (admin, designer, viewer)",
        responses={200: ScoreRunOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        project_id = score_run_project_id(pk=run_id)
        if project_id is None:
            raise Http404("No such score run.")
        project: Project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        run = score_run_get(project=project, pk=run_id)
        if run is None:
            raise Http404("No such score run.")
        return Response(ScoreRunOutputSerializer(run).data)


@extend_schema_serializer(component_name="Score")
class ScoreOutputSerializer(serializers.Serializer):
    response = serializers.IntegerField(source="response_id")
    total = serializers.FloatField(allow_null=True)
    components = serializers.DictField(child=serializers.FloatField(allow_null=True))
    created_at = serializers.DateTimeField()


class ScoreListApi(GenericAPIView):
    @extend_schema(
        operation_id="score_list",
        tags=["rewards"],
        summary="A version's scores of the project's responses (admin, designer, viewer)",
        responses={200: ScoreOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.VIEW_DATA)
        page = self.paginate_queryset(score_list(version=version))
        return self.get_paginated_response(ScoreOutputSerializer(page, many=True).data)
