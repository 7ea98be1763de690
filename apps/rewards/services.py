"""Reward functions: versions, score runs, and scoring with work done by an injected engine.

The heavy part (embeddings, reward heads, judges) lives in `workers.ml` and never
runs in the web process. Tasks build an engine there and pass its
`component_values` into the functions here as `compute`; everything else (which
responses, transform statistics, totals, rows) is decided here, torch-free.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response
from apps.reward_models.selectors import reward_model_for_scoring
from apps.reward_models.services import reward_model_local_directory
from apps.rewards.embedding_store import DatabaseEmbeddingStore
from apps.rewards.models import RewardFunction, RewardFunctionVersion, Score, ScoreRun
from apps.rubrics.models import RubricVersion
from workers.contracts import (
    HeadArtifact,
    JudgeCriterion,
    JudgeTarget,
    ScoreItem,
    ScoringResources,
)
from workers.rewards.fitting import (
    ComputeRaw,
    FittedTransforms,
    RawValues,
    fitted_without_data,
    needs_statistics,
    raw_values,
)
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RewardSpec, RubricJudge, spec_errors

logger = logging.getLogger(__name__)

JOB_BATCH = 1024
JUDGE_KEY_PREFIX = "JUDGE_"


# --- Reward functions and versions ---------------------------------------------------


def _valid_spec(*, project: Project, spec: Any) -> RewardSpec:
    """The parsed spec, or an ApplicationError whose `spec` detail lists every problem."""
    errors = spec_errors(spec)
    if not errors:
        parsed = RewardSpec.model_validate(spec)
        errors = _project_errors(project=project, spec=parsed)
    if errors:
        raise ApplicationError("The reward spec is not valid.", extra={"spec": errors})
    return parsed


def _project_errors(*, project: Project, spec: RewardSpec) -> list[str]:
    """What the spec refers to must exist in the project: reward models, rubric versions."""
    errors = []
    for i, component in enumerate(spec.components):
        where = f"components[{i}] ({component.name})"
        if (
            isinstance(component, RewardModelComponent)
            and component.model is not None
            and reward_model_for_scoring(project_id=project.pk, model_id=component.model) is None
        ):
            errors.append(f"{where}.model: no reward model {component.model} in this project")
        if isinstance(component, RubricJudge):
            if not RubricVersion.objects.filter(
                pk=component.rubric_version, rubric__project=project
            ).exists():
                errors.append(
                    f"{where}.rubric_version: no rubric version {component.rubric_version} "
                    "in this project"
                )
            setting = component.api_key_setting
            if setting is not None and not setting.startswith(JUDGE_KEY_PREFIX):
                errors.append(
                    f"{where}.api_key_setting: must name a setting that starts with "
                    f"{JUDGE_KEY_PREFIX} (keys for judges, nothing else)"
                )
    return errors


def _version_add(
    *, function: RewardFunction, spec: Any, message: str, created_by: User | None
) -> RewardFunctionVersion:
    """Store the spec as it was sent (it is valid); fit it now if it needs no statistics."""
    parsed = RewardSpec.model_validate(spec)
    number = (function.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    fitted = None if needs_statistics(parsed) else fitted_without_data(parsed)
    return RewardFunctionVersion.objects.create(
        function=function,
        number=number,
        spec=spec,
        message=message,
        fitted=None if fitted is None else fitted.model_dump(mode="json"),
        fitted_at=None if fitted is None else timezone.now(),
        created_by=created_by,
    )


@transaction.atomic
def reward_function_create(
    *,
    project: Project,
    name: str,
    spec: Any,
    created_by: User | None,
    description: str = "",
    message: str = "",
) -> RewardFunctionVersion:
    """Create a reward function with its first version; returns that version.

    Writes nothing for a bad spec or a name the project already uses. A version whose
    transforms need no statistics is fitted at once; otherwise the first score run fits it.
    """
    _valid_spec(project=project, spec=spec)
    if RewardFunction.objects.filter(project=project, name=name).exists():
        raise ApplicationError(
            f"This project already has a reward function named {name!r}.",
            extra={"name": ["A reward function with this name exists."]},
        )
    try:
        with transaction.atomic():
            function = RewardFunction.objects.create(
                project=project, name=name, description=description, created_by=created_by
            )
    except IntegrityError:  # created at the same moment by someone else
        raise ApplicationError(
            f"This project already has a reward function named {name!r}.",
            extra={"name": ["A reward function with this name exists."]},
        ) from None
    return _version_add(function=function, spec=spec, message=message, created_by=created_by)


@transaction.atomic
def reward_function_update(
    *, function: RewardFunction, name: str | None = None, description: str | None = None
) -> RewardFunction:
    """Rename a reward function or change its description; its versions stay as they are.

    Writes nothing for a blank name or one another function of the project already uses.
    """
    fields = []
    if name is not None:
        name = name.strip()
        if not name:
            raise ApplicationError("A reward function needs a name.", extra={"name": ["Required."]})
        taken = RewardFunction.objects.filter(project_id=function.project_id, name=name)
        if taken.exclude(pk=function.pk).exists():
            raise ApplicationError(
                f"This project already has a reward function named {name!r}.",
                extra={"name": ["A reward function with this name exists."]},
            )
        function.name = name
        fields.append("name")
    if description is not None:
        function.description = description
        fields.append("description")
    if fields:
        try:
            with transaction.atomic():
                function.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:  # the name was taken at the same moment
            raise ApplicationError(
                f"This project already has a reward function named {name!r}.",
                extra={"name": ["A reward function with this name exists."]},
            ) from None
    return function


@transaction.atomic
def reward_function_version_create(
    *, function: RewardFunction, spec: Any, created_by: User | None, message: str = ""
) -> RewardFunctionVersion:
    """Add the next version to a reward function; earlier versions stay as they are."""
    _valid_spec(project=function.project, spec=spec)
    RewardFunction.objects.select_for_update().filter(pk=function.pk).exists()  # numbering
    return _version_add(function=function, spec=spec, message=message, created_by=created_by)


def _version_store_fitted(
    *, version: RewardFunctionVersion, fitted: FittedTransforms
) -> tuple[FittedTransforms, bool]:
    """Store fitted statistics unless some run stored them first; returns those in force."""
    stored = RewardFunctionVersion.objects.filter(pk=version.pk, fitted__isnull=True).update(
        fitted=fitted.model_dump(mode="json"), fitted_at=timezone.now(), updated_at=timezone.now()
    )
    version.refresh_from_db(fields=["fitted", "fitted_at"])
    assert version.fitted_transforms is not None
    return version.fitted_transforms, bool(stored)


# --- What the worker needs --------------------------------------------------------------


def _judge_key(component: RubricJudge) -> str:
    name = component.api_key_setting or "JUDGE_API_KEY"
    if not name.startswith(JUDGE_KEY_PREFIX):
        raise ApplicationError(f"{component.name}: api_key_setting must start with JUDGE_.")
    own_endpoint = component.endpoint not in (None, settings.JUDGE_API_URL)
    if name == "JUDGE_API_KEY" and own_endpoint:
        # The operator's key goes only to the operator's endpoint.
        return ""
    return str(getattr(settings, name, None) or os.environ.get(name, ""))


def _judge_target(*, project_id: int, component: RubricJudge) -> JudgeTarget:
    url = component.endpoint or settings.JUDGE_API_URL
    model = component.model or settings.JUDGE_MODEL
    if not url or not model:
        raise ApplicationError(
            f"{component.name}: no judge endpoint or model; set JUDGE_API_URL and JUDGE_MODEL "
            "or give endpoint and model in the component."
        )
    version = (
        RubricVersion.objects.filter(pk=component.rubric_version, rubric__project_id=project_id)
        .select_related("rubric")
        .first()
    )
    if version is None:
        raise ApplicationError(
            f"{component.name}: rubric version {component.rubric_version} is gone."
        )
    criteria = tuple(
        JudgeCriterion(
            name=c.name,
            description=c.description,
            low=c.scale.min,
            high=c.scale.max,
            weight=c.weight,
        )
        for c in version.spec.criteria
    )
    if not criteria:
        raise ApplicationError(f"{component.name}: rubric {version} has no criteria.")
    return JudgeTarget(
        url=url,
        model=model,
        api_key=_judge_key(component),
        criteria=criteria,
        guidelines=version.guidelines,
        timeout=component.timeout,
    )


def scoring_resources(*, version: RewardFunctionVersion) -> ScoringResources:
    """Resolve what the version's components refer to, for the ML engine on this worker.

    Raises ApplicationError when something is missing (no promoted model, no judge URL).
    """
    spec = version.parsed_spec
    project_id = version.function.project_id
    heads: dict[str, HeadArtifact] = {}
    judges: dict[str, JudgeTarget] = {}
    for component in spec.components:
        if isinstance(component, RewardModelComponent):
            model = reward_model_for_scoring(project_id=project_id, model_id=component.model)
            if model is None:
                which = (
                    f"reward model {component.model}"
                    if component.model
                    else "promoted reward model"
                )
                raise ApplicationError(f"{component.name}: the project has no {which}.")
            directory = reward_model_local_directory(model=model)
            heads[component.name] = HeadArtifact(
                model_id=model.pk, directory=str(directory), backbone=model.backbone
            )
        elif isinstance(component, RubricJudge):
            judges[component.name] = _judge_target(project_id=project_id, component=component)
    return ScoringResources(
        heads=heads,
        judges=judges,
        embedding_store=DatabaseEmbeddingStore(),
        batch_size=settings.SCORE_BATCH_SIZE,
    )


# --- Raw values to rewards --------------------------------------------------------------


def score_items_compute(
    *, version: RewardFunctionVersion, items: Sequence[ScoreItem], compute: ComputeRaw
) -> dict[str, Any]:
    """Score items with a fitted version: `{"results": [{"reward", "components"}]}` as JSON.

    `components` holds each component's raw value, the same numbers Score rows keep.
    """
    fitted = version.fitted_transforms
    if fitted is None:
        raise ApplicationError(_NOT_FITTED)
    spec = version.parsed_spec
    raw = raw_values(spec, items, compute)
    totals = raw.rewards(spec, fitted).totals
    return {
        "results": [
            {"reward": total, "components": {n: raw.values[n][i] for n in spec.names}}
            for i, total in enumerate(totals)
        ]
    }


_NOT_FITTED = (
    "This version's transforms need statistics from the project's responses: "
    "start a score run first (POST /api/v1/reward-function-versions/{id}/score-runs/)."
)


def score_request_check(*, version: RewardFunctionVersion, count: int) -> None:
    """Refuse a synchronous scoring request that is too big or that the version cannot answer."""
    limit = settings.SCORE_MAX_ITEMS
    if count > limit:
        raise ApplicationError(
            f"{count} items is more than {limit} per request: send batches of at most {limit}, "
            "or score the project's responses as a job with "
            f"POST /api/v1/reward-function-versions/{version.pk}/score-runs/.",
            extra={"items": [f"Send at most {limit} items."]},
        )
    if not version.is_fitted:
        raise ApplicationError(_NOT_FITTED.replace("{id}", str(version.pk)))


class WorkerTimeout(Exception):
    """No worker answered the scoring request in time."""


def score_items_remote(*, version: RewardFunctionVersion, items: list[dict[str, Any]]) -> dict:
    """Hand items to a worker on the `gpu` queue and wait for its answer (web side).

    Raises ApplicationError for a batch above SCORE_MAX_ITEMS or an unfitted version,
    and WorkerTimeout when no worker answers within SCORE_TIMEOUT_SECONDS.
    """
    from workers.tasks.rewards import score_items

    score_request_check(version=version, count=len(items))
    return _answer_of(score_items.delay(version_id=version.pk, items=items))


def _answer_of(result: Any) -> dict:
    """Wait for a scoring task's answer; WorkerTimeout when none comes in time."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    try:
        answer = result.get(timeout=settings.SCORE_TIMEOUT_SECONDS, propagate=True)
    except CeleryTimeout:
        result.revoke()
        raise WorkerTimeout(
            f"No scoring worker answered within {settings.SCORE_TIMEOUT_SECONDS} s; "
            "is a worker consuming the `gpu` queue?"
        ) from None
    finally:
        result.forget()
    if "error" in answer:
        raise ApplicationError(answer["error"])
    return answer


# --- Drafts: the composer's "try it" ---------------------------------------------------


def reward_spec_check(*, project: Project, spec: Any) -> list[str]:
    """Every problem with `spec` for this project, as sentences; [] when it can be saved."""
    try:
        _valid_spec(project=project, spec=spec)
    except ApplicationError as exc:
        return list(exc.extra.get("spec", [exc.message]))
    return []


def draft_version(*, project_id: int, spec: Any) -> RewardFunctionVersion:
    """An unsaved version holding a valid spec, fitted when its transforms need no data."""
    parsed = RewardSpec.model_validate(spec)
    version = RewardFunctionVersion(
        function=RewardFunction(project_id=project_id), number=0, spec=spec
    )
    if not needs_statistics(parsed):
        version.fitted = fitted_without_data(parsed).model_dump(mode="json")
    return version


def score_draft_compute(
    *, project_id: int, spec: Any, items: Sequence[ScoreItem], compute: ComputeRaw
) -> dict[str, Any]:
    """Score items with an unsaved spec, as `score_items_compute` does for a version.

    A spec whose transforms need statistics from the project (z-score, quantiles) has
    no total until it is saved and a score run fits them: `reward` is None and
    `needs_fitting` is true, while each component's raw value is still given."""
    version = draft_version(project_id=project_id, spec=spec)
    if version.is_fitted:
        return {**score_items_compute(version=version, items=items, compute=compute),
                "needs_fitting": False}  # fmt: skip
    parsed = version.parsed_spec
    raw = raw_values(parsed, items, compute)
    return {
        "results": [
            {"reward": None, "components": {n: raw.values[n][i] for n in parsed.names}}
            for i in range(len(items))
        ],
        "needs_fitting": True,
    }


def score_draft_remote(*, project: Project, spec: Any, items: list[dict[str, Any]]) -> dict:
    """Hand a draft spec and a few items to a worker on the `gpu` queue and wait (web side).

    Raises ApplicationError for a spec that is not valid (every problem under
    `extra["spec"]`) or too many items, and WorkerTimeout when no worker answers."""
    from workers.tasks.rewards import score_draft_items

    _valid_spec(project=project, spec=spec)
    limit = settings.SCORE_MAX_ITEMS
    if len(items) > limit:
        raise ApplicationError(f"{len(items)} items is more than {limit} per request.")
    return _answer_of(score_draft_items.delay(project_id=project.pk, spec=spec, items=items))


# --- Score runs ---------------------------------------------------------------------------


@transaction.atomic
def score_run_create(
    *, version: RewardFunctionVersion, created_by: User | None, enqueue: bool = True
) -> ScoreRun:
    """Queue a job that scores every response of the version's project."""
    project_id = version.function.project_id
    if not Response.objects.filter(prompt__project_id=project_id).exists():
        raise ApplicationError("The project has no responses to score yet.")
    run = ScoreRun.objects.create(version=version, project_id=project_id, created_by=created_by)
    if enqueue:
        from workers.tasks.rewards import score_responses

        transaction.on_commit(lambda: score_responses.delay(run_id=run.pk))
    return run


def score_run_claim(*, run_id: int) -> ScoreRun | None:
    """Move a queued run to running (compare-and-set); None if it is gone or not queued."""
    now = timezone.now()
    claimed = ScoreRun.objects.filter(pk=run_id, status=ScoreRun.Status.QUEUED).update(
        status=ScoreRun.Status.RUNNING, started_at=now, updated_at=now
    )
    if not claimed:
        logger.info("score run %s: not queued any more, nothing to do", run_id)
        return None
    return ScoreRun.objects.select_related("version__function").get(pk=run_id)


def score_run_fail(*, run: ScoreRun, error: str) -> ScoreRun:
    """Mark a run failed with a message a person can act on."""
    run.status = ScoreRun.Status.FAILED
    run.error = error[:2000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "updated_at"])
    return run


def _response_batches(project_id: int, size: int) -> Iterator[tuple[list[int], list[ScoreItem]]]:
    """The project's responses as items, `size` at a time, in id order.

    Pages by id (no long-lived cursor), as plain values rather than model instances,
    with each prompt read and turned into text (as `Prompt.text` gives it) once.
    """
    responses = Response.objects.filter(prompt__project_id=project_id).order_by("id")
    prompts: dict[int, tuple[str, str | None]] = {}
    last = 0
    while page := list(responses.filter(id__gt=last).values_list("id", "text", "prompt_id")[:size]):
        last = page[-1][0]
        wanted = {prompt_id for _, _, prompt_id in page}
        if len(prompts) > 4 * size:  # keep memory flat on huge projects
            prompts = {k: v for k, v in prompts.items() if k in wanted}
        new = wanted - prompts.keys()
        for prompt_id, prompt_input, references in Prompt.objects.filter(id__in=new).values_list(
            "id", "input", "references"
        ):
            reference = str(references[0]) if references else None
            prompts[prompt_id] = (Prompt(input=prompt_input).text, reference)
        ids = [response_id for response_id, _, _ in page]
        items = []
        for _, text, prompt_id in page:
            prompt_text, reference = prompts[prompt_id]
            items.append(ScoreItem(prompt_text, text, reference))
        yield ids, items


def _scores_write(
    *,
    version: RewardFunctionVersion,
    ids: Sequence[int],
    raw: RawValues,
    spec: RewardSpec,
    fitted: FittedTransforms,
) -> None:
    """Upsert one Score per response (in the caller's transaction)."""
    totals = raw.rewards(spec, fitted).totals
    components = [{name: raw.values[name][i] for name in raw.names} for i in range(len(ids))]
    if connection.vendor != "postgresql":
        rows = [
            Score(
                version=version, response_id=response_id, total=totals[i], components=components[i]
            )
            for i, response_id in enumerate(ids)
        ]
        Score.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["version", "response"],
            update_fields=["total", "components"],
        )
        return
    # COPY into a temporary table, then one INSERT … ON CONFLICT: an order of magnitude
    # faster than a multi-row INSERT built by the ORM.
    table = Score._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS score_upload "
            "(response_id bigint, total double precision, components jsonb) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(
            "COPY score_upload (response_id, total, components) FROM STDIN"
        ) as copy:
            for i, response_id in enumerate(ids):
                copy.write_row((response_id, totals[i], json.dumps(components[i])))
        cursor.execute(
            f"INSERT INTO {table} (version_id, response_id, total, components, created_at) "  # noqa: S608 - our table name
            "SELECT %s, response_id, total, components, now() FROM score_upload "
            "ON CONFLICT (version_id, response_id) DO UPDATE "
            "SET total = EXCLUDED.total, components = EXCLUDED.components",
            [version.pk],
        )
        cursor.execute("DELETE FROM score_upload")


REUSE_CANDIDATES = 20


def _is_deterministic(component: Any) -> bool:
    """Gives the same raw value for the same item every time (a judge does not; nor does
    "the promoted model", which can change)."""
    if isinstance(component, RubricJudge):
        return False
    return not (isinstance(component, RewardModelComponent) and component.model is None)


def _reuse_sources(*, version: RewardFunctionVersion) -> dict[str, int]:
    """Component name → an earlier version of the project whose identical component
    already scored the project's responses, so its raw values can be copied.

    This makes re-scoring after a change to weights, transforms or the combination cost
    no model calls at all; a changed component is computed (through the embedding cache).
    """
    ours = {
        c.name: c.model_dump(mode="json", by_alias=True)
        for c in version.parsed_spec.components
        if _is_deterministic(c)
    }
    if not ours:
        return {}
    scored = Score.objects.filter(version=OuterRef("pk"))
    candidates = (
        RewardFunctionVersion.objects.filter(function__project_id=version.function.project_id)
        .exclude(pk=version.pk)
        .filter(Exists(scored))
        .order_by("-created_at", "-pk")[:REUSE_CANDIDATES]
    )
    sources: dict[str, int] = {}
    for candidate in candidates:
        for component in candidate.parsed_spec.components:
            name = component.name
            if name in sources or name not in ours:
                continue
            if component.model_dump(mode="json", by_alias=True) == ours[name]:
                sources[name] = candidate.pk
    return sources


def _known_values(
    sources: dict[str, int], ids: Sequence[int]
) -> dict[str, dict[int, float | None]]:
    """Raw values the source versions hold for these responses, by item index."""
    index = {response_id: i for i, response_id in enumerate(ids)}
    known: dict[str, dict[int, float | None]] = {name: {} for name in sources}
    by_version: dict[int, list[str]] = {}
    for name, version_id in sources.items():
        by_version.setdefault(version_id, []).append(name)
    low, high = min(ids), max(ids)
    for version_id, names in by_version.items():
        # A range, not a list of ids: the batch is a run of ids in order.
        rows = Score.objects.filter(
            version_id=version_id, response_id__gte=low, response_id__lte=high
        ).values_list("response_id", "components")
        for response_id, components in rows:
            at = index.get(response_id)
            if at is None:
                continue
            for name in names:
                if name in components:
                    known[name][at] = components[name]
    return known


def score_run_execute(
    *, run: ScoreRun, compute: ComputeRaw, batch_size: int = JOB_BATCH
) -> ScoreRun:
    """Score every response of the run's project, batch by batch, keeping progress in the row.

    A version without statistics is fitted on all the raw values first (and the run
    records that it did); rows are upserted, so running it again rewrites the same scores.
    Raw values of components identical to an earlier scored version's are copied from
    its Score rows instead of being computed again (`_reuse_sources`).
    """
    version = run.version
    spec = version.parsed_spec
    project_id = run.project_id
    total = Response.objects.filter(prompt__project_id=project_id).count()
    ScoreRun.objects.filter(pk=run.pk).update(responses_total=total)
    fitted = version.fitted_transforms
    held: list[tuple[list[int], RawValues]] = []
    sources = _reuse_sources(version=version)
    try:
        for ids, items in _response_batches(project_id, batch_size):
            known = _known_values(sources, ids) if sources else None
            raw = raw_values(spec, items, compute, known=known)
            if fitted is not None:
                with transaction.atomic():
                    _scores_write(version=version, ids=ids, raw=raw, spec=spec, fitted=fitted)
            else:
                held.append((ids, raw))
            ScoreRun.objects.filter(pk=run.pk).update(
                responses_scored=F("responses_scored") + len(ids), updated_at=timezone.now()
            )
        if fitted is None:
            everything = RawValues(names=spec.names)
            for _, raw in held:
                everything.extend(raw)
            if not len(everything):
                raise ApplicationError("The project has no responses to fit the transforms on.")
            fitted, run.fitted_here = _version_store_fitted(
                version=version, fitted=everything.fit(spec)
            )
            with transaction.atomic():
                for ids, raw in held:
                    _scores_write(version=version, ids=ids, raw=raw, spec=spec, fitted=fitted)
    except ApplicationError as exc:
        return score_run_fail(run=run, error=exc.message)
    except DatabaseError as exc:
        logger.exception("score run %s failed", run.pk)
        return score_run_fail(run=run, error=f"could not save scores: {exc}")
    run.refresh_from_db(fields=["responses_total", "responses_scored"])
    run.status = ScoreRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "fitted_here", "finished_at", "updated_at"])
    return run
