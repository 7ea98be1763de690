"""Reads for exports: the jobs themselves, and the querysets an export streams."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from apps.accounts.models import Project
from apps.annotation.models import Comparison, Label
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.prompts.models import Prompt, Response
from apps.rewards.models import RewardFunctionVersion, Score
from apps.rubrics.models import RubricVersion


def export_list(
    *, project: Project, status: str | None = None, export_format: str | None = None
) -> QuerySet[Export]:
    """A project's exports, newest first, with who started them; optionally one status or
    one dataset format."""
    exports = Export.objects.filter(project=project).select_related("created_by")
    if status is not None:
        exports = exports.filter(status=status)
    if export_format is not None:
        exports = exports.filter(format=export_format)
    return exports


def export_get(*, project: Project, pk: int) -> Export | None:
    return export_list(project=project).filter(pk=pk).first()


def export_project_id(*, pk: int) -> int | None:
    return Export.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def project_has_chat_prompts(*, project: Project) -> bool:
    """Whether any prompt of the project is a chat transcript (a list of messages).

    Looks for a first message's role: `input -> 0` alone is not enough, as Postgres
    answers the string itself for a JSON string.
    """
    return Prompt.objects.filter(project=project, input__0__role__isnull=False).exists()


def reward_version_for_project(*, project: Project, pk: int) -> RewardFunctionVersion | None:
    return (
        RewardFunctionVersion.objects.filter(pk=pk, function__project=project)
        .select_related("function")
        .first()
    )


def annotators_below_gold_accuracy(*, project: Project, threshold: float) -> set[int]:
    """Annotators whose current labels on gold pairs match the gold answer less often
    than `threshold`. Annotators without gold labels are not listed."""
    rows = (
        Label.objects.filter(
            comparison__project=project,
            comparison__is_gold=True,
            superseded_by__isnull=True,
            annotator__isnull=False,
        )
        .exclude(comparison__gold_choice="")
        .values("annotator_id")
        .annotate(
            total=Count("id"), correct=Count("id", filter=Q(choice=F("comparison__gold_choice")))
        )
    )
    return {row["annotator_id"] for row in rows if row["correct"] < threshold * row["total"]}


def _day_start(day: datetime | object) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))  # type: ignore[arg-type]


def export_label_period(*, options: ExportOptions) -> tuple[datetime | None, datetime | None]:
    """The times of the labels an export may use: from (included) and until (excluded),
    whole days in the installation's time zone; None where open."""
    start = _day_start(options.labelled_from) if options.labelled_from else None
    end = _day_start(options.labelled_to + timedelta(days=1)) if options.labelled_to else None
    return start, end


def export_label_filter(*, options: ExportOptions, excluded_annotators: set[int]) -> Q:
    """The labels an export may use: current ones, in the date range, by kept annotators."""
    # NOT EXISTS rather than `superseded_by__isnull` (a LEFT JOIN): Postgres plans it as an
    # anti-join with a sound row estimate, which matters for the export's one big read.
    q = Q(~Exists(Label.objects.filter(supersedes_id=OuterRef("pk"))))
    start, end = export_label_period(options=options)
    if start is not None:
        q &= Q(created_at__gte=start)
    if end is not None:
        q &= Q(created_at__lt=end)
    if excluded_annotators:
        q &= ~Q(annotator_id__in=excluded_annotators)
    return q


def export_prompt_filter(*, options: ExportOptions, prefix: str = "") -> Q:
    """The prompts an export covers (group and metadata), as seen from `prefix`."""
    q = Q()
    if options.prompt_group is not None:
        q &= Q(**{f"{prefix}group": options.prompt_group})
    if options.metadata and connection.vendor == "postgresql":
        q &= Q(**{f"{prefix}metadata__contains": dict(options.metadata)})
    elif options.metadata:
        # SQLite (the embedded setup) has no `metadata__contains`: one key lookup per pair
        # (KeyTransform, since `metadata__<key>` would split a key like "a__b"; a key of
        # digits alone is read as an array index there, as Django's JSON paths do).
        matching = Prompt.objects.all()
        for n, (key, value) in enumerate(options.metadata.items()):
            name = f"metadata_{n}"
            matching = matching.alias(**{name: KeyTransform(key, "metadata")})
            matching = matching.filter(**{name: value})
        q &= Q(**{f"{prefix}id__in": matching.values("id")})
    return q


def export_comparisons(
    *,
    project: Project,
    label_filter: Q,
    prompt_filter: Q,
    with_rankings: bool = True,
    with_annotators: bool = True,
) -> QuerySet[Comparison]:
    """Comparisons with at least one usable label, in id order, each with its prompt, its
    responses and its usable labels (`usable_labels`, oldest first).

    `with_rankings` prefetches ranking responses and `with_annotators` each label's user;
    leave them out when the project has no rankings or no names are written: each costs
    a query and rows per chunk.
    """
    labels = Label.objects.filter(label_filter).order_by("id")
    if with_annotators:
        labels = labels.select_related("annotator")
    prefetches: list[Prefetch] = [Prefetch("labels", queryset=labels, to_attr="usable_labels")]
    if with_rankings:
        prefetches.append(Prefetch("ranked_responses", queryset=Response.objects.order_by("id")))
    return (
        Comparison.objects.filter(project=project)
        .filter(prompt_filter)
        .filter(Exists(Label.objects.filter(label_filter, comparison=OuterRef("pk"))))
        .select_related("prompt", "response_a", "response_b")
        .prefetch_related(*prefetches)
        .order_by("id")
    )


def export_label_values(
    *, project: Project, label_filter: Q, prompt_filter: Q, fields: tuple[str, ...]
) -> QuerySet[Label]:
    """The usable labels of an export as value rows of `fields`, by comparison then label id.

    `prompt_filter` is seen from the label (prefix `comparison__prompt__`). Only label
    columns: the texts come once per comparison from `export_comparison_values`.
    """
    return (
        Label.objects.filter(label_filter, comparison__project=project)
        .filter(prompt_filter)
        .order_by("comparison_id", "id")
        .values_list(*fields)
    )


COMPARISON_FIELDS = (
    "id", "kind", "is_gold", "prompt_id", "prompt__input", "prompt__content_hash",
    "response_a_id", "response_b_id", "response_a__text", "response_b__text",
)  # fmt: skip


def export_comparison_values(
    *, project: Project, label_filter: Q, prompt_filter: Q
) -> QuerySet[Comparison]:
    """Comparisons with a usable label as value rows of COMPARISON_FIELDS, in id order:
    the same comparisons, in the same order, as the labels of `export_label_values`.

    `prompt_filter` is seen from the comparison (prefix `prompt__`).
    """
    return (
        Comparison.objects.filter(project=project)
        .filter(prompt_filter)
        .filter(Exists(Label.objects.filter(label_filter, comparison=OuterRef("pk"))))
        .order_by("id")
        .values_list(*COMPARISON_FIELDS)
    )


def export_value_batches(queryset: QuerySet[Any], *, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The queryset's rows as raw tuples, `size` at a time, from a server-side cursor.

    The queryset's own SQL runs on `chunked_cursor()` (a named cursor on Postgres), so no
    model instance or field converter is built per row: JSON and timestamp columns come back
    as text and the caller decodes only what it needs. Memory holds one batch.
    """
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        if connection.vendor == "postgresql":
            # Timestamps as their text: Django's loader builds each aware datetime in Python,
            # the slowest column of an export; the caller parses only what it writes.
            from psycopg.types.string import TextLoader

            cursor.cursor.adapters.register_loader("timestamptz", TextLoader)
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(size):
            yield batch


def export_ranked_texts(*, comparison_ids: set[int]) -> dict[int, dict[int, str]]:
    """Each ranking comparison's responses: comparison id → response id → text."""
    through = Comparison.ranked_responses.through
    rows = (
        through.objects.filter(comparison_id__in=comparison_ids)
        .order_by("comparison_id", "response_id")
        .values_list("comparison_id", "response_id", "response__text")
    )
    result: dict[int, dict[int, str]] = {}
    for comparison_id, response_id, text in rows:
        result.setdefault(comparison_id, {})[response_id] = text
    return result


def project_has_rankings(*, project: Project) -> bool:
    return Comparison.objects.filter(project=project, kind=Comparison.Kind.RANKING).exists()


def export_responses(*, project: Project, prompt_filter: Q) -> QuerySet[Response]:
    """The project's responses (with their prompt) in id order."""
    return (
        Response.objects.filter(prompt__project=project)
        .filter(prompt_filter)
        .select_related("prompt")
        .order_by("id")
    )


def export_rating_labels(*, label_filter: Q, response_ids: list[int]) -> QuerySet[Label]:
    """Usable labels that may rate any of these responses, as (ratings,) rows."""
    involved = Comparison.objects.filter(
        Q(response_a_id__in=response_ids)
        | Q(response_b_id__in=response_ids)
        | Q(ranked_responses__in=response_ids)
    ).values("pk")
    return (
        Label.objects.filter(label_filter, comparison_id__in=involved)
        .exclude(ratings={})
        .order_by("id")
    )


def export_rating_criteria(*, project: Project) -> list[str]:
    """Criterion names of the rubric versions the project's labels were made under,
    in rubric-version then criterion order."""
    names: list[str] = []
    versions = RubricVersion.objects.filter(
        Exists(Label.objects.filter(rubric_version=OuterRef("pk"), comparison__project=project))
    ).order_by("id")
    for version in versions:
        for criterion in version.spec.criteria:
            if criterion.name not in names:
                names.append(criterion.name)
    return names


def export_scores(*, version: RewardFunctionVersion, prompt_filter: Q) -> QuerySet[Score]:
    """The version's scores of the project's responses, in response order."""
    return (
        Score.objects.filter(version=version, response__prompt__project=version.function.project)
        .filter(prompt_filter)
        .select_related("response__prompt")
        .order_by("response_id")
    )


def export_rubric_versions(*, ids: set[int]) -> list[str]:
    """`Rubric vN` names of these rubric versions, for the data card."""
    versions = RubricVersion.objects.filter(pk__in=ids).select_related("rubric").order_by("id")
    return [f"{version.rubric.name} v{version.number} (id {version.pk})" for version in versions]
