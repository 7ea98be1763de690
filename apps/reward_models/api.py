"""REST API for reward models: start and follow training runs, list and promote models.

Reading needs Capability.VIEW_DATA (admin, designer, viewer); starting or cancelling a
run and promoting a model need Capability.DESIGN_REWARDS (admin, designer).
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

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user
from apps.core.api import openapi_schema
from apps.core.api_permissions import error_responses
from apps.core.errors import ApplicationError
from apps.reward_models import selectors, services
from apps.reward_models.models import RewardModel, TrainingRun
from workers.training.settings import TrainingSettings


@extend_schema_field(openapi_schema(TrainingSettings))
class SettingsField(serializers.JSONField):
    """A run's training settings, validated by `TrainingSettings` (all optional)."""


@extend_schema_serializer(component_name="RewardModel")
class RewardModelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    name = serializers.CharField()
    backbone = serializers.CharField()
    head_kind = serializers.ChoiceField(choices=RewardModel.HeadKind.choices)
    is_promoted = serializers.BooleanField(help_text="The project's active model.")
    promoted_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.DictField(help_text="Validation metrics of the run that trained it.")
    training_run = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_training_run(self, model: RewardModel) -> int | None:
        run = getattr(model, "training_run", None)
        return run.pk if run is not None else None


@extend_schema_serializer(component_name="TrainingSnapshot")
class SnapshotOutputSerializer(serializers.Serializer):
    consensus_rule = serializers.CharField()
    labels = serializers.IntegerField(help_text="Current labels frozen into the run.")
    rubric_version_ids = serializers.ListField(child=serializers.IntegerField())
    ties = serializers.CharField()
    include_imported = serializers.BooleanField()
    prompts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Split → prompts (no prompt is in both)."
    )
    pairs = serializers.DictField(child=serializers.IntegerField(), help_text="Split → pairs.")
    rated_responses = serializers.IntegerField(
        help_text="Responses with rubric ratings (per-criterion heads)."
    )
    skipped = serializers.DictField(child=serializers.IntegerField(), help_text="Reason → items.")


def snapshot_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    prompts = {"train": 0, "validation": 0}
    for split in snapshot.get("prompt_splits", {}).values():
        prompts[split] = prompts.get(split, 0) + 1
    return {
        "consensus_rule": snapshot.get("consensus_rule", ""),
        "labels": len(snapshot.get("label_ids", [])),
        "rubric_version_ids": snapshot.get("rubric_version_ids", []),
        "ties": snapshot.get("ties", ""),
        "include_imported": snapshot.get("include_imported", True),
        "prompts": prompts,
        "pairs": snapshot.get("counts", {}),
        "rated_responses": len(snapshot.get("rated", [])),
        "skipped": snapshot.get("skipped", {}),
    }


@extend_schema_serializer(component_name="TrainingRun")
class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.ChoiceField(choices=TrainingRun.Status.choices)
    trigger = serializers.ChoiceField(choices=TrainingRun.Trigger.choices)
    settings = SettingsField()
    progress = serializers.FloatField(help_text="0 to 1.")
    stage = serializers.CharField(help_text="embedding, training, evaluating, done.")
    history = serializers.ListField(
        child=serializers.DictField(), help_text="Per epoch: epoch, train_loss, validation_loss."
    )
    train_pairs = serializers.IntegerField()
    validation_pairs = serializers.IntegerField()
    metrics = serializers.DictField(help_text="On the validation split (empty until done).")
    baseline_metrics = serializers.DictField(
        help_text="The same metrics for `baseline_model` on the same split."
    )
    baseline_model = serializers.IntegerField(source="baseline_model_id", allow_null=True)
    reward_model = RewardModelOutputSerializer(allow_null=True)
    snapshot = serializers.SerializerMethodField()
    cancel_requested = serializers.BooleanField()
    error = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(SnapshotOutputSerializer)
    def get_snapshot(self, run: TrainingRun) -> dict[str, Any]:
        return snapshot_summary(run.snapshot)


def _run_for(user: User, run_id: int, capability: Capability) -> TrainingRun:
    project_id = selectors.training_run_project_id(pk=run_id)
    if project_id is None:
        raise Http404("No such training run.")
    project: Project = project_for_user(user=user, capability=capability, pk=project_id)
    run = selectors.training_run_get(project=project, pk=run_id)
    if run is None:
        raise Http404("No such training run.")
    return selectors.training_run_live(run)


class TrainingRunListApi(GenericAPIView):
    @extend_schema_serializer(component_name="TrainingRunCreate")
    class InputSerializer(serializers.Serializer):
        settings = SettingsField(required=False, default=dict)

        def validate_settings(self, value: Any) -> TrainingSettings:
            try:
                return services.training_settings_parse(value)
            except ApplicationError as exc:
                raise serializers.ValidationError(
                    exc.extra.get("settings", [exc.message])
                ) from None

    @extend_schema(
        operation_id="training_run_list",
        tags=["reward models"],
        summary="A project's training runs, newest first (admin, designer, viewer)",
        responses={200: TrainingRunOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        page = self.paginate_queryset(
            selectors.training_run_list(project=project).defer(None).defer("pair_rewards")
        )
        return self.get_paginated_response(TrainingRunOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="training_run_create",
        tags=["reward models"],
        summary="Retrain: freeze the labels and train a reward model on a worker (admin, designer)",
        description=(
            "Settings are optional: every field has a good default. The run is queued for a "
            "GPU worker; follow it at `Location` (`training-runs/{id}/`)."
        ),
        request=InputSerializer,
        responses={202: TrainingRunOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.DESIGN_REWARDS, pk=project_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.training_run_create(
            project=project, user=request.user, settings=serializer.validated_data["settings"]
        )
        return Response(
            TrainingRunOutputSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:training_run_detail", kwargs={"run_id": run.pk})},
        )


class TrainingRunDetailApi(APIView):
    @extend_schema(
        operation_id="training_run_retrieve",
        tags=["reward models"],
        summary="One training run: status, progress, metrics, the model it produced",
        responses={200: TrainingRunOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = _run_for(request.user, run_id, Capability.VIEW_DATA)
        return Response(TrainingRunOutputSerializer(run).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(
        operation_id="training_run_cancel",
        tags=["reward models"],
        summary="Cancel a queued or running run (admin, designer)",
        description="A queued run is cancelled at once; a running one stops at its next check.",
        request=None,
        responses={200: TrainingRunOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = _run_for(request.user, run_id, Capability.DESIGN_REWARDS)
        run = services.training_run_cancel(run=run)
        return Response(TrainingRunOutputSerializer(run).data)


class RewardModelListApi(GenericAPIView):
    @extend_schema(
        operation_id="reward_model_list",
        tags=["reward models"],
        summary="A project's reward models with their metrics (admin, designer, viewer)",
        responses={200: RewardModelOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        page = self.paginate_queryset(selectors.reward_model_list(project=project))
        return self.get_paginated_response(RewardModelOutputSerializer(page, many=True).data)


class RewardModelPromoteApi(APIView):
    @extend_schema_serializer(component_name="RewardModelPromote")
    class InputSerializer(serializers.Serializer):
        confirm = serializers.BooleanField(
            default=False,
            help_text="Promote even when the model is worse than the active one on the pairs "
            "both training runs held out (without it, that answers 400 with both accuracies, "
            "their 95% intervals and the number of shared held-out pairs).",
        )

    @extend_schema(
        operation_id="reward_model_promote",
        tags=["reward models"],
        summary="Make this the project's active reward model (admin, designer)",
        description="The `reward_model` reward component scores with the active model unless "
        "its spec pins another.",
        request=InputSerializer,
        responses={200: RewardModelOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, model_id: int) -> Response:
        project_id = selectors.reward_model_project_id(pk=model_id)
        if project_id is None:
            raise Http404("No such reward model.")
        project = project_for_user(
            user=request.user, capability=Capability.DESIGN_REWARDS, pk=project_id
        )
        model = selectors.reward_model_get(project=project, pk=model_id)
        if model is None:
            raise Http404("No such reward model.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = services.reward_model_promote_checked(
            model=model, confirm=serializer.validated_data["confirm"]
        )
        return Response(RewardModelOutputSerializer(model).data)
