"""REST API for the workbench: comparisons, the queue and judgments.

External labelling front-ends use the same queue as the compare page: lease with
`comparisons/next/`, answer with `comparisons/{id}/labels/` carrying an idempotency
key, so a retried request never makes a second label.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from pydantic import ValidationError as PydanticValidationError
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_for_member, project_for_user
from apps.annotation import columns, queue_sql, selectors, services
from apps.annotation.models import Assignment, Comparison, Label
from apps.annotation.schema import Judgment
from apps.core.api_permissions import error_responses
from apps.core.errors import ApplicationError
from apps.prompts.api import PromptInputField
from apps.prompts.models import Response as ApiResponseRow

# The column is a 32-bit integer: larger numbers would be a database error, not a 400.
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1
EXCLUDE_MAX = 20


def _judgment_errors(exc: PydanticValidationError) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for item in exc.errors():
        field = ".".join(str(part) for part in item["loc"]) or "non_field_errors"
        details.setdefault(field, []).append(item["msg"].removeprefix("Value error, "))
    return details


@extend_schema_serializer(component_name="Comparison")
class ComparisonOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    prompt = serializers.IntegerField(source="prompt_id")
    kind = serializers.ChoiceField(choices=Comparison.Kind.choices)
    responses = serializers.SerializerMethodField(
        help_text="Response ids: `[a, b]` for a pair (a has the lower id), all for a ranking."
    )
    priority = serializers.IntegerField()
    labels_wanted = serializers.IntegerField()
    labels_done = serializers.IntegerField()
    is_gold = serializers.BooleanField()
    gold_choice = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_responses(self, comparison: Comparison) -> list[int]:
        if comparison.kind == Comparison.Kind.PAIR:
            return [comparison.response_a_id, comparison.response_b_id]
        return sorted(response.pk for response in comparison.ranked_responses.all())


class _ListFilterSerializer(serializers.Serializer):
    """The filters the comparison and label lists share (`selectors.comparison_list`,
    `selectors.label_list`)."""

    search = serializers.CharField(
        required=False, default="", max_length=500, help_text="In the prompt's text."
    )
    model = serializers.CharField(
        required=False,
        default="",
        max_length=200,
        help_text="One response is this model's (labels: not for annotators).",
    )
    since = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Created at or after."
    )
    until = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Created before."
    )


def _sort_field(sorts: dict[str, tuple[str, tuple[Any, ...]]]) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[(name, label) for name, (label, _) in sorts.items()],
        required=False,
        default=next(iter(sorts)),
    )


class ComparisonListApi(GenericAPIView):
    class FilterSerializer(_ListFilterSerializer):
        prompt = serializers.IntegerField(
            required=False, allow_null=True, default=None, help_text="Only this prompt's."
        )
        is_gold = serializers.BooleanField(required=False, allow_null=True, default=None)
        needs_labels = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="true: still wants labels; false: has all it wants.",
        )
        sort = _sort_field(selectors.COMPARISON_SORTS)

    @extend_schema_serializer(component_name="ComparisonInput")
    class InputSerializer(serializers.Serializer):
        responses = serializers.ListField(
            child=serializers.IntegerField(),
            min_length=2,
            max_length=10,
            help_text="Two response ids make a pair; three or more a ranking item.",
        )
        priority = serializers.IntegerField(
            default=0, min_value=PRIORITY_MIN, max_value=PRIORITY_MAX
        )
        labels_wanted = serializers.IntegerField(
            min_value=0, max_value=50, required=False, help_text="Default: the project's overlap."
        )
        is_gold = serializers.BooleanField(default=False)
        gold_choice = serializers.ChoiceField(
            choices=["a", "b", "tie", "both_bad"], required=False, default=""
        )

    @extend_schema(
        operation_id="comparison_list",
        tags=["annotation"],
        summary="A project's comparisons (admin, designer, viewer)",
        parameters=[FilterSerializer],
        responses={
            200: ComparisonOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_DATA, pk=project_id
        )
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        items = selectors.comparison_list(project=project, **filters.validated_data)
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ComparisonOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="comparison_create",
        tags=["annotation"],
        summary="Create a comparison from a prompt's responses (admin, designer)",
        request=InputSerializer,
        responses={201: ComparisonOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.IMPORT_DATA, pk=project_id
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        comparison = services.comparison_create(
            project=project,
            response_ids=fields["responses"],
            priority=fields["priority"],
            labels_wanted=fields.get("labels_wanted"),
            is_gold=fields["is_gold"],
            gold_choice=fields["gold_choice"],
        )
        return ApiResponse(ComparisonOutputSerializer(comparison).data, status=201)


@extend_schema_serializer(component_name="ItemResponse")
class ItemResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    choice = serializers.CharField(
        allow_null=True,
        help_text="The `choice` that prefers this response (`a` or `b`); null in a ranking.",
    )


@extend_schema_serializer(component_name="ItemPrompt")
class ItemPromptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    input = PromptInputField()


@extend_schema_serializer(component_name="Assignment")
class AssignmentOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(source="pk")
    comparison = serializers.IntegerField(source="comparison_id")
    kind = serializers.CharField(source="comparison.kind")
    expires_at = serializers.DateTimeField()
    prompt = serializers.SerializerMethodField()
    responses = serializers.SerializerMethodField(
        help_text="In the order to show them, left first. Model names are never sent."
    )
    strength_scale = serializers.SerializerMethodField(
        help_text="Labels of `strength` 0, 1, …, weakest first."
    )
    rationale_required = serializers.SerializerMethodField()

    def _responses(self, assignment: Assignment) -> list[ApiResponseRow]:
        # One query for the texts and their prompt, shared by both fields.
        cache = self.context.setdefault("responses", {})
        if assignment.pk not in cache:
            cache[assignment.pk] = selectors.assignment_responses(
                assignment=assignment, with_prompt=True
            )
        return cache[assignment.pk]

    @extend_schema_field(ItemPromptSerializer)
    def get_prompt(self, assignment: Assignment) -> dict[str, object]:
        prompt = self._responses(assignment)[0].prompt
        return {"id": prompt.pk, "input": prompt.input}

    @extend_schema_field(ItemResponseSerializer(many=True))
    def get_responses(self, assignment: Assignment) -> list[dict[str, object]]:
        comparison = assignment.comparison
        sides = {comparison.response_a_id: "a", comparison.response_b_id: "b"}
        return [
            {"id": response.pk, "text": response.text, "choice": sides.get(response.pk)}
            for response in self._responses(assignment)
        ]

    def get_strength_scale(self, assignment: Assignment) -> list[str]:
        return assignment.project.settings.strength_scale

    def get_rationale_required(self, assignment: Assignment) -> bool:
        return assignment.project.settings.rationale_required


_datetime = serializers.DateTimeField()


def assignment_output(assignment: Assignment) -> dict[str, object]:
    """`AssignmentOutputSerializer(assignment).data`, built directly: the queue answers this
    on every lease, and the serializer's per-field machinery cost more than the lease."""
    comparison = assignment.comparison
    settings = assignment.project.settings
    shown = selectors.assignment_shown(assignment=assignment)
    sides = {comparison.response_a_id: "a", comparison.response_b_id: "b"}
    return {
        "assignment": assignment.pk,
        "comparison": assignment.comparison_id,
        "kind": str(comparison.kind),
        "expires_at": _datetime.to_representation(assignment.expires_at),
        "prompt": {"id": shown.prompt_id, "input": shown.prompt_input},
        "responses": [
            {"id": pk, "text": text, "choice": sides.get(pk)} for pk, text in shown.responses
        ],
        "strength_scale": settings.strength_scale,
        "rationale_required": settings.rationale_required,
    }


@extend_schema_serializer(component_name="ComparisonResponse")
class ComparisonResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model = serializers.CharField(
        allow_null=True, help_text="Null for annotators, who judge without model names."
    )


@extend_schema_serializer(component_name="ComparisonDetail")
class ComparisonDetailSerializer(serializers.Serializer):
    """A comparison with its texts. `blind` (from the context) hides what annotators may not
    learn: whether it is gold, its gold answer and the models' names."""

    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.ChoiceField(choices=Comparison.Kind.choices)
    prompt = serializers.SerializerMethodField()
    responses = serializers.SerializerMethodField(
        help_text="`[a, b]` for a pair (a has the lower id); all, by id, for a ranking."
    )
    priority = serializers.IntegerField()
    labels_wanted = serializers.IntegerField()
    labels_done = serializers.IntegerField()
    labels_needed = serializers.SerializerMethodField(help_text="How many labels it still wants.")
    is_gold = serializers.SerializerMethodField(help_text="Null for annotators.")
    gold_choice = serializers.SerializerMethodField(help_text="Null for annotators.")
    created_at = serializers.DateTimeField()

    def _blind(self) -> bool:
        return bool(self.context.get("blind"))

    @extend_schema_field(ItemPromptSerializer)
    def get_prompt(self, comparison: Comparison) -> dict[str, object]:
        return {"id": comparison.prompt_id, "input": comparison.prompt.input}

    @extend_schema_field(ComparisonResponseSerializer(many=True))
    def get_responses(self, comparison: Comparison) -> list[dict[str, object]]:
        if comparison.kind == Comparison.Kind.PAIR:
            responses = [comparison.response_a, comparison.response_b]
        else:
            responses = sorted(comparison.ranked_responses.all(), key=lambda r: r.pk)
        return [
            {"id": r.pk, "text": r.text, "model": None if self._blind() else r.model}
            for r in responses
        ]

    def get_labels_needed(self, comparison: Comparison) -> int:
        return max(0, comparison.labels_wanted - comparison.labels_done)

    def get_is_gold(self, comparison: Comparison) -> bool | None:
        return None if self._blind() else comparison.is_gold

    def get_gold_choice(self, comparison: Comparison) -> str | None:
        return None if self._blind() else comparison.gold_choice


class ComparisonDetailApi(APIView):
    @extend_schema(
        operation_id="comparison_retrieve",
        tags=["annotation"],
        summary="One comparison with its prompt and responses (annotators: only their own)",
        description=(
            "Admins, designers and viewers read any comparison of the project. An annotator"
            " reads only a comparison they were given (leased, judged or skipped), and blind:"
            " `is_gold`, `gold_choice` and each response's `model` are null. Labels are not"
            " included; list them with `projects/{id}/labels/?comparison={id}`, where"
            " annotators see only their own."
        ),
        responses={200: ComparisonDetailSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, comparison_id: int) -> ApiResponse:
        project_id = (
            Comparison.objects.filter(pk=comparison_id).values_list("project_id", flat=True).first()
        )
        if project_id is None:
            raise Http404("No such comparison.")
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        comparison = selectors.comparison_get(project=project, user=request.user, pk=comparison_id)
        if comparison is None:  # deleted in between
            raise Http404("No such comparison.")
        blind = not role_can(project.user_role, Capability.VIEW_DATA)
        return ApiResponse(ComparisonDetailSerializer(comparison, context={"blind": blind}).data)

    @extend_schema_serializer(component_name="ComparisonUpdate")
    class UpdateSerializer(serializers.Serializer):
        priority = serializers.IntegerField(
            required=False, min_value=PRIORITY_MIN, max_value=PRIORITY_MAX
        )
        labels_wanted = serializers.IntegerField(required=False, min_value=0, max_value=50)
        gold_choice = serializers.ChoiceField(
            choices=["a", "b", "tie", "both_bad"],
            required=False,
            allow_null=True,
            help_text="Make a pair gold with this answer; null makes it an ordinary item again.",
        )

    @extend_schema(
        operation_id="comparison_update",
        tags=["annotation"],
        summary="Change a comparison's priority, wanted labels or gold answer (admin, designer)",
        description=(
            "The responses a comparison compares never change. Labels already given are kept;"
            " wanting fewer labels than are done only stops new leases. Only pairs can be gold."
        ),
        request=UpdateSerializer,
        responses={200: ComparisonDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, comparison_id: int) -> ApiResponse:
        project_id = (
            Comparison.objects.filter(pk=comparison_id).values_list("project_id", flat=True).first()
        )
        if project_id is None:
            raise Http404("No such comparison.")
        project = project_for_user(
            user=request.user, capability=Capability.IMPORT_DATA, pk=project_id
        )
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        comparison = selectors.comparison_get(project=project, user=request.user, pk=comparison_id)
        if comparison is None:  # deleted in between
            raise Http404("No such comparison.")
        services.comparison_update(
            comparison=comparison,
            priority=fields.get("priority"),
            labels_wanted=fields.get("labels_wanted"),
            gold_choice=fields.get("gold_choice"),
            set_gold="gold_choice" in fields,
        )
        comparison = selectors.comparison_get(project=project, user=request.user, pk=comparison_id)
        return ApiResponse(ComparisonDetailSerializer(comparison).data)


class ComparisonNextApi(APIView):
    @extend_schema_serializer(component_name="NextInput")
    class InputSerializer(serializers.Serializer):
        exclude = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            default=list,
            max_length=EXCLUDE_MAX,
            help_text="Assignment ids the caller already shows; send the current one to prefetch.",
        )

    @extend_schema(
        operation_id="comparison_next",
        tags=["annotation"],
        summary="Lease the next comparison to the caller (admin, designer, annotator)",
        description=(
            "Returns a lease the caller already holds, or leases the highest-priority"
            " comparison that still needs labels and that the caller has not labelled or"
            " skipped. The lease expires after the project's `lease_minutes`. 204 when the"
            " caller's queue is empty."
        ),
        request=InputSerializer,
        responses={
            200: AssignmentOutputSerializer,
            204: OpenApiResponse(description="Nothing left to label."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        now = timezone.now()
        exclude = _plain_exclude(request.data)
        if exclude is not None:  # the usual bodies: the project and the held lease at once
            project, held_id = selectors.project_for_next(
                user=request.user, pk=project_id, now=now, exclude=exclude
            )
        else:  # anything else: who may ask first, then the serializer's checks and errors
            project = project_for_member(
                user=request.user, capability=Capability.ANNOTATE, pk=project_id
            )
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            exclude = data.validated_data["exclude"]
            held_id = queue_sql.lease_held_id(
                project_id=project.pk, user_id=request.user.pk, now=now, exclude=exclude
            )
        assignment = services.assignment_next_after(
            project=project, user=request.user, held_id=held_id, now=now, with_texts=True
        )
        if assignment is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        return ApiResponse(assignment_output(assignment))


def _plain_exclude(data: object) -> list[int] | None:
    """`exclude` from `{}` or `{"exclude": [a few ints]}`, the bodies clients send; None
    for anything else."""
    if not isinstance(data, dict) or data.keys() - {"exclude"}:
        return None
    exclude = data.get("exclude", [])
    if (
        isinstance(exclude, list)
        and len(exclude) <= EXCLUDE_MAX
        and all(type(pk) is int for pk in exclude)
    ):
        return exclude
    return None


def _leased_to_caller(request: Request, comparison_id: int) -> Assignment:
    """The caller's assignment of a comparison in a project where they may annotate.

    404 for a comparison they cannot see, 403 for a role that may not annotate, and 400
    when they hold no lease on it.
    """
    # One statement on the hot path: the assignment and the caller's role in its project.
    found = queue_sql.lease_with_role(comparison_id=comparison_id, user_id=request.user.pk)
    if found is None:
        project_id = (
            Comparison.objects.filter(pk=comparison_id).values_list("project_id", flat=True).first()
        )
        if project_id is None:
            raise Http404("No such comparison.")
        project_for_user(user=request.user, capability=Capability.ANNOTATE, pk=project_id)
        raise ApplicationError(
            "This comparison is not leased to you: ask for it with comparisons/next/."
        )
    assignment_id, project_id, role = found
    # As project_for_user answers: not a member is 404, a role that may not annotate 403.
    if role is None:
        raise Http404("No such project.")
    if not role_can(role, Capability.ANNOTATE):
        raise PermissionDenied("Your role in this project does not allow this.")
    return Assignment(pk=assignment_id, project_id=project_id)


@extend_schema_serializer(component_name="Label")
class LabelOutputSerializer(serializers.Serializer):
    # A label: the API columns of `columns.LABEL_COLUMNS`, in their order (a docstring
    # would be the schema's description).
    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: column.serializer_field() for name, column in columns.api_columns()}


def label_output(label: Label) -> dict[str, object]:
    """`LabelOutputSerializer(label).data`, built directly (every submit answers one)."""
    output: dict[str, object] = {}
    for name, column in columns.api_columns():
        value = getattr(label, column.field)
        output[name] = value if column.to_api is None else column.to_api(value)
    return output


@extend_schema_serializer(component_name="SpanInput")
class SpanInputSerializer(serializers.Serializer):
    response = serializers.IntegerField()
    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=1)
    category = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True)


class LabelCreateApi(APIView):
    @extend_schema_serializer(component_name="JudgmentInput")
    class InputSerializer(serializers.Serializer):
        """Described for the schema; the body is validated by `apps.annotation.schema.Judgment`."""

        idempotency_key = serializers.CharField(
            help_text="8–100 characters from [A-Za-z0-9_.:-]; resend the same key on retry."
        )
        choice = serializers.ChoiceField(
            choices=["a", "b", "tie", "both_bad"], required=False, allow_null=True
        )
        strength = serializers.IntegerField(
            required=False, allow_null=True, help_text="Index into the project's strength scale."
        )
        ranking = serializers.ListField(
            child=serializers.IntegerField(), required=False, help_text="Response ids, best first."
        )
        ratings = serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()),
            required=False,
            help_text="Response id → criterion → rating.",
        )
        spans = SpanInputSerializer(many=True, required=False)
        rationale = serializers.CharField(required=False, allow_blank=True)
        seconds_spent = serializers.FloatField(required=False, allow_null=True)

    @extend_schema(
        operation_id="label_create",
        tags=["annotation"],
        summary="Submit a judgment of a comparison leased to the caller",
        description=(
            "201 with the new label; 200 with the first label when the same"
            " `idempotency_key` was sent before (a retry). The caller must hold a lease on"
            " the comparison (from `comparisons/next/`); a late answer on an expired lease"
            " is still accepted if nobody else has been given the place."
        ),
        request=InputSerializer,
        responses={
            201: LabelOutputSerializer,
            200: LabelOutputSerializer,
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, comparison_id: int) -> ApiResponse:
        try:
            judgment = Judgment.model_validate(request.data)
        except PydanticValidationError as exc:
            _leased_to_caller(request, comparison_id)  # who may send it comes first
            raise serializers.ValidationError(_judgment_errors(exc)) from None
        # One statement finds, checks and locks the caller's lease; without one (or a role
        # that may annotate) nothing happened, and the slower lookup says why.
        submitted = services.label_submit_leased(
            comparison_id=comparison_id, user=request.user, judgment=judgment
        )
        if submitted is None:
            assignment = _leased_to_caller(request, comparison_id)
            # Leased meanwhile (a race with the lease itself): the usual path.
            submitted = services.label_submit(
                assignment=assignment, user=request.user, judgment=judgment
            )
        return ApiResponse(
            label_output(submitted.label),
            status=status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK,
        )


class LabelListApi(GenericAPIView):
    class FilterSerializer(_ListFilterSerializer):
        comparison = serializers.IntegerField(required=False, allow_null=True, default=None)
        annotator = serializers.IntegerField(required=False, allow_null=True, default=None)
        choice = serializers.ChoiceField(choices=Label.Choice.choices, required=False, default="")
        current = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="true: labels in force; false: superseded ones.",
        )
        is_gold = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Not for annotators."
        )
        sort = _sort_field(selectors.LABEL_SORTS)

    @extend_schema(
        operation_id="label_list",
        tags=["annotation"],
        summary="A project's labels, oldest first (annotators see only their own)",
        parameters=[FilterSerializer],
        responses={200: LabelOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        labels = selectors.label_list(
            project=project,
            user=request.user,
            role=project.user_role,
            **filters.validated_data,
        )
        page = self.paginate_queryset(labels)
        return self.get_paginated_response(LabelOutputSerializer(page, many=True).data)


class AssignmentSkipApi(APIView):
    @extend_schema_serializer(component_name="SkipInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema(
        operation_id="comparison_skip",
        tags=["annotation"],
        summary="Give a leased comparison back unjudged, with a reason",
        request=InputSerializer,
        responses={
            204: OpenApiResponse(description="Skipped."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, comparison_id: int) -> ApiResponse:
        assignment = _leased_to_caller(request, comparison_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.assignment_skip(
            assignment=assignment, user=request.user, reason=data.validated_data["reason"]
        )
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)
