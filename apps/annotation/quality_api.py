"""REST API for label quality: the stored agreement report and annotator reports (read),
a recompute, the review queue and reviewers' decisions, and gold answers."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.models import Project
from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_for_user
from apps.annotation import reports, review
from apps.annotation.api import ComparisonOutputSerializer
from apps.annotation.models import AgreementReport, Comparison
from apps.core.api_permissions import error_responses

CHOICES = ["a", "b", "tie", "both_bad"]


def _comparison_for(request: Request, comparison_id: int, capability: Capability) -> Comparison:
    """A comparison of a project where the caller may do `capability`: 404 unseen, 403 role."""
    comparison = Comparison.objects.select_related("project").filter(pk=comparison_id).first()
    if comparison is None:
        raise Http404("No such comparison.")
    comparison.project = project_for_user(
        user=request.user, capability=capability, pk=comparison.project_id
    )
    return comparison


@extend_schema_serializer(component_name="AgreementReport")
class AgreementReportOutputSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True)
    compute_seconds = serializers.FloatField(allow_null=True)
    requested_at = serializers.DateTimeField(
        allow_null=True, help_text="Set while a recompute is queued."
    )
    figures = serializers.DictField(
        help_text=(
            "`labels`, `annotators`; `choice.raw`, `choice.alpha` (nominal), `strength` "
            "(ordinal α of signed strength), `criteria.NAME` (ordinal α), `groups.NAME` (raw), "
            "each `{value, n_items, n_pairs, interval: [low, high] | null}`; `kappa`: "
            "`[{annotators: [id, id], value, n_items, n_pairs}]`; `annotator_names`."
        )
    )


def _report_or_empty(project: Project) -> AgreementReport:
    return reports.agreement_report_get(project=project) or AgreementReport(project=project)


class AgreementReportApi(APIView):
    @extend_schema(
        operation_id="agreement_report",
        tags=["quality"],
        summary="The project's agreement figures as last computed (admin, designer, viewer)",
        responses={200: AgreementReportOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_QUALITY, pk=project_id
        )
        return ApiResponse(AgreementReportOutputSerializer(_report_or_empty(project)).data)


class AgreementRefreshApi(APIView):
    @extend_schema(
        operation_id="agreement_refresh",
        tags=["quality"],
        summary="Queue a recompute of the agreement figures now (admin, designer)",
        request=None,
        responses={
            202: OpenApiResponse(description="Queued; poll the report's `computed_at`."),
            **error_responses(401, 403, 404),
        },
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_QUALITY, pk=project_id
        )
        reports.agreement_request(project_id=project.pk, force=True)
        return ApiResponse(status=status.HTTP_202_ACCEPTED)


@extend_schema_serializer(component_name="AnnotatorReports")
class AnnotatorReportsOutputSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True)
    team = serializers.DictField(allow_null=True, help_text="The whole team's figures.")
    people = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "Per annotator: `user_id`, `username`, `labels`, `per_day`, `median_seconds`, "
            "`consensus`, `gold`, `tie`, `both_bad`, `longer` (each `{count, n, share}`; "
            "`consensus` compares the person with the consensus formed without their own "
            "label and adds `skipped`, their judgments with no such consensus), "
            "`gold_by_day`, `position` (`{left, n, share, p_value}`), `flags`."
        ),
    )


class AnnotatorReportsApi(APIView):
    @extend_schema(
        operation_id="annotator_reports",
        tags=["quality"],
        summary="Annotator reports: everyone's for admins and designers, one's own otherwise",
        responses={200: AnnotatorReportsOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        role = project.user_role  # type: ignore[attr-defined]
        everyone = role_can(role, Capability.MANAGE_QUALITY)
        if not (everyone or role_can(role, Capability.ANNOTATE)):
            raise PermissionDenied("Your role in this project does not allow this.")
        report = _report_or_empty(project)
        people = report.annotators.get("people", [])
        if not everyone:
            people = [person for person in people if person["user_id"] == request.user.pk]
        data = {
            "computed_at": report.computed_at,
            "team": report.annotators.get("team"),
            "people": people,
        }
        return ApiResponse(AnnotatorReportsOutputSerializer(data).data)


class ReviewQueueApi(GenericAPIView):
    @extend_schema(
        operation_id="review_queue",
        tags=["quality"],
        summary="Pairs whose labels disagree or are flagged, without a decision (admin, designer)",
        responses={
            200: ComparisonOutputSerializer(many=True),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_QUALITY, pk=project_id
        )
        page = self.paginate_queryset(review.review_queue(project=project))
        return self.get_paginated_response(ComparisonOutputSerializer(page, many=True).data)


@extend_schema_serializer(component_name="ReviewDecision")
class ReviewDecisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    comparison = serializers.IntegerField(source="comparison_id")
    reviewer = serializers.IntegerField(source="reviewer_id")
    choice = serializers.CharField()
    strength = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReviewDecisionApi(APIView):
    @extend_schema_serializer(component_name="ReviewDecisionInput")
    class InputSerializer(serializers.Serializer):
        choice = serializers.ChoiceField(choices=CHOICES)
        strength = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=0,
            help_text="Index into the project's strength scale; only with a or b.",
        )  # fmt: skip
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(
        operation_id="review_decide",
        tags=["quality"],
        summary="Record a reviewer's final judgment of a pair (admin, designer)",
        request=InputSerializer,
        responses={201: ReviewDecisionOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, comparison_id: int) -> ApiResponse:
        comparison = _comparison_for(request, comparison_id, Capability.MANAGE_QUALITY)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = review.review_decide(
            comparison=comparison, reviewer=request.user, **data.validated_data
        )
        return ApiResponse(ReviewDecisionOutputSerializer(decision).data, status=201)


class GoldApi(APIView):
    @extend_schema_serializer(component_name="GoldInput")
    class InputSerializer(serializers.Serializer):
        gold_choice = serializers.ChoiceField(
            choices=CHOICES, allow_null=True, help_text="The known answer; null unmarks."
        )

    @extend_schema(
        operation_id="comparison_gold",
        tags=["quality"],
        summary="Mark a pair as a gold item with its answer, or unmark it (admin, designer)",
        request=InputSerializer,
        responses={200: ComparisonOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request: Request, comparison_id: int) -> ApiResponse:
        comparison = _comparison_for(request, comparison_id, Capability.MANAGE_QUALITY)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comparison = review.comparison_mark_gold(
            comparison=comparison, gold_choice=data.validated_data["gold_choice"]
        )
        return ApiResponse(ComparisonOutputSerializer(comparison).data)
