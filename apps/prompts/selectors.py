from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from apps.accounts.models import Project
from apps.prompts.models import Prompt, Response


def prompt_list(
    *,
    project: Project,
    search: str = "",
    group: str = "",
    metadata: dict[str, str] | None = None,
    with_responses: bool = False,
) -> QuerySet[Prompt]:
    """A project's prompts, newest last, with `response_count`.

    `search` matches the prompt's text (every turn of a chat) or a response's text;
    `metadata` matches top-level keys by their value as text (`{"kind": "coding"}`).
    """
    prompts = Prompt.objects.filter(project=project)
    if search:
        matching_responses = Response.objects.filter(
            prompt__project=project, text__icontains=search
        ).values("prompt_id")
        prompts = prompts.filter(Q(input__icontains=search) | Q(pk__in=matching_responses))
    if group:
        prompts = prompts.filter(group=group)
    for index, (key, value) in enumerate((metadata or {}).items()):
        # A transform, not a `metadata__{key}` lookup: keys are user text and may hold "__".
        alias = f"metadata_value_{index}"
        prompts = prompts.alias(**{alias: KeyTextTransform(key, "metadata")}).filter(
            **{f"{alias}__iexact": value}
        )
    if with_responses:
        prompts = prompts.prefetch_related(_ordered_responses())
    return prompts.annotate(response_count=Count("responses")).order_by("id")


def _ordered_responses() -> Prefetch:
    return Prefetch("responses", queryset=Response.objects.order_by("id"))


def prompt_get(*, project: Project, pk: int) -> Prompt | None:
    """One prompt of the project with its responses, or None."""
    return (
        Prompt.objects.filter(project=project, pk=pk).prefetch_related(_ordered_responses()).first()
    )


def prompt_groups(*, project: Project) -> list[str]:
    """The distinct non-empty group keys of a project's prompts, sorted."""
    return list(
        Prompt.objects.filter(project=project)
        .exclude(group="")
        .order_by("group")
        .values_list("group", flat=True)
        .distinct()
    )


def prompt_metadata_keys(*, project: Project, sample: int = 500) -> list[str]:
    """Top-level metadata keys seen on a sample of the project's prompts (for filters)."""
    keys: set[str] = set()
    for metadata in Prompt.objects.filter(project=project).values_list("metadata", flat=True)[
        :sample
    ]:
        if isinstance(metadata, dict):
            keys.update(metadata)
    return sorted(keys)
