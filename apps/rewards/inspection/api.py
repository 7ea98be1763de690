"""REST API for the inspector: start an inspection, follow it and read its result, accept
the weights it fitted, and compare two versions.

Reading needs Capability.VIEW_DATA; starting an inspection or accepting weights
Capability.DESIGN_REWARDS.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api_permissions import error_responses
from apps.rewards.api import VersionOutputSerializer, _version_for
from apps.rewards.inspection import selectors, services
from apps.rewards.models import Inspection
from apps.rewards.selectors import reward_function_version_get

_RESULT_HELP = (
    "The inspection's panels as JSON, null until it succeeds: `accuracy` (overall, per"
    " criterion, annotator and prompt group, each with a 95% bootstrap `interval`), `ceiling`"
    " (human–human agreement), `histograms`, `correlation`, `ablation`, `length`,"
    " `worst_pairs`, `probes`, `consistency` and `fit` (Bradley–Terry weights, each kept to"
    " its sign unless freed: `signs`, `held_at_zero`; the fitted version's `probes` and the"
    " `newly_gamed` probes that game it and not this version)."
)


@extend_schema_serializer(component_name="InspectionSummary")
class InspectionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="version_id")
    project = serializers.IntegerField(source="project_id")
    status = serializers.ChoiceField(choices=Inspection.Status.choices)
    stage = serializers.CharField(help_text="What the job is doing now.")
    progress = serializers.FloatField(help_text="0 to 1.")
    error = serializers.CharField()
    is_waiting_for_worker = serializers.BooleanField()
    free_signs = serializers.ListField(
        child=serializers.CharField(),
        help_text="Components whose weight the fit may flip; every other weight keeps the "
        "sign of the version's weight (≥ 0 where it is 0 or the version has no weights).",
    )
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="Inspection")
class InspectionOutputSerializer(InspectionSummarySerializer):
    result = serializers.JSONField(allow_null=True, help_text=_RESULT_HELP)


def _inspection_for(user: User, inspection_id: int, capability: Capability) -> Inspection:
    project_id = selectors.inspection_project_id(pk=inspection_id)
    if project_id is None:
        raise Http404("No such inspection.")
    project = project_for_user(user=user, capability=capability, pk=project_id)
    inspection = selectors.inspection_get(project=project, pk=inspection_id)
    if inspection is None:
        raise Http404("No such inspection.")
    return inspection


class InspectionListApi(GenericAPIView):
    @extend_schema_serializer(component_name="InspectionCreate")
    class InputSerializer(serializers.Serializer):
        free_signs = serializers.ListField(
            child=serializers.CharField(),
            default=list,
            help_text="Component names whose weight the weight fit may flip. By default each "
            "fitted weight keeps the sign of the version's weight (≥ 0 where it is 0, and for "
            "every component of a min, product or formula).",
        )

    @extend_schema(
        operation_id="inspection_list",
        tags=["inspector"],
        summary="A version's inspections, newest first, without results (admin, designer, viewer)",
        responses={200: InspectionSummarySerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.VIEW_DATA)
        queryset = selectors.inspection_list(version=version).defer("result")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(InspectionSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="inspection_create",
        tags=["inspector"],
        summary="Inspect this version over its project, as a job (admin, designer)",
        description=(
            "Scores the project's responses first if the version has not, then computes every"
            " panel. While an inspection of the version is queued or running, that one is"
            " answered instead of a second. Follow it at `Location`."
        ),
        request=InputSerializer,
        responses={202: InspectionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _version_for(request.user, version_id, Capability.DESIGN_REWARDS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inspection = services.inspection_create(
            version=version,
            created_by=request.user,
            free_signs=serializer.validated_data["free_signs"],
        )
        return Response(
            InspectionOutputSerializer(inspection).data,
            status=status.HTTP_202_ACCEPTED,
            headers={
                "Location": reverse(
                    "api:inspection_detail", kwargs={"inspection_id": inspection.pk}
                )
            },
        )


class InspectionDetailApi(APIView):
    @extend_schema(
        operation_id="inspection_retrieve",
        tags=["inspector"],
        summary="One inspection: status, progress, and its result (admin, designer, viewer)",
        responses={200: InspectionOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, inspection_id: int) -> Response:
        inspection = _inspection_for(request.user, inspection_id, Capability.VIEW_DATA)
        return Response(InspectionOutputSerializer(inspection).data)


class InspectionAcceptWeightsApi(APIView):
    @extend_schema_serializer(component_name="InspectionAcceptWeights")
    class InputSerializer(serializers.Serializer):
        confirm = serializers.BooleanField(
            default=False,
            help_text="Save the weights even when a probe games the fitted version and not the "
            "current one (without it, that answers 400 naming them in `details.newly_gamed`).",
        )

    @extend_schema(
        operation_id="inspection_accept_weights",
        tags=["inspector"],
        summary="Save the weights an inspection fitted as the function's next version "
        "(admin, designer)",
        request=InputSerializer,
        responses={201: VersionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, inspection_id: int) -> Response:
        inspection = _inspection_for(request.user, inspection_id, Capability.DESIGN_REWARDS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.inspection_accept_weights(
            inspection=inspection, user=request.user, confirm=serializer.validated_data["confirm"]
        )
        version = reward_function_version_get(project=inspection.project, pk=version.pk)
        return Response(
            VersionOutputSerializer(version).data,
            status=status.HTTP_201_CREATED,
            headers={
                "Location": reverse(
                    "api:reward_function_version_detail", kwargs={"version_id": version.pk}
                )
            },
        )


@extend_schema_serializer(component_name="VersionFlip")
class FlipSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="The comparison.")
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    first_prefers = serializers.IntegerField()
    second_prefers = serializers.IntegerField()
    first_margin = serializers.FloatField()
    second_margin = serializers.FloatField()
    votes_a = serializers.IntegerField(help_text="Current labels choosing `a`.")
    votes_b = serializers.IntegerField(help_text="Current labels choosing `b`.")
    people_prefer = serializers.IntegerField(
        allow_null=True, help_text="The response most labels chose; null when unlabelled or tied."
    )


@extend_schema_serializer(component_name="VersionComparison")
class ComparisonOutputSerializer(serializers.Serializer):
    distance = serializers.FloatField(
        allow_null=True,
        help_text="STARC-style: rewards centred per prompt, scaled to unit norm, L2 distance;"
        " 0 = same ordering everywhere, 2 = reversed.",
    )
    responses = serializers.IntegerField(help_text="Responses both versions scored.")
    note = serializers.CharField(help_text="Why the distance is null, if it is.")
    pairs = serializers.IntegerField(help_text="Pair comparisons in the project.")
    flipped = serializers.IntegerField()
    first_agrees = serializers.IntegerField(help_text="Flipped pairs where people side with it.")
    second_agrees = serializers.IntegerField(help_text="Flipped pairs where people side with it.")
    flips = FlipSerializer(many=True, help_text="The largest swings first, at most 50.")


class VersionCompareApi(APIView):
    @extend_schema(
        operation_id="reward_function_version_compare",
        tags=["inspector"],
        summary="Distance between two versions of the project and the pairs that flip "
        "(admin, designer, viewer)",
        description="Over the responses both versions have scored (inspect or score them first).",
        responses={200: ComparisonOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, version_id: int, other_id: int) -> Response:
        first = _version_for(request.user, version_id, Capability.VIEW_DATA)
        second = reward_function_version_get(project=first.function.project, pk=other_id)
        if second is None:
            raise Http404("No such reward function version in this project.")
        result = services.version_comparison(first=first, second=second)
        return Response(ComparisonOutputSerializer(result).data)
