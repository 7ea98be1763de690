"""Score runs: jobs that score every response of a project with one version."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response, prompt_text
from apps.rewards.models import RewardFunctionVersion, Score, ScoreRun
from apps.rewards.services.reuse import (
    Copied,
    Sources,
    copied_raw_values,
    copied_scores_write,
    known_values,
    reuse_sources,
)
from workers.contracts import (
    ScoreItem,
)
from workers.rewards.fitting import (
    ComputeRaw,
    FittedTransforms,
    RawValues,
    raw_values,
)
from workers.rewards.spec import RewardSpec

logger = logging.getLogger(__name__)

JOB_BATCH = 1024


def _version_store_fitted(
    *, version: RewardFunctionVersion, fitted: FittedTransforms
) -> tuple[FittedTransforms, bool]:
    """Store fitted statistics unless some run stored them first; returns those in force."""
    stored = RewardFunctionVersion.objects.filter(pk=version.pk, fitted__isnull=True).update(
        fitted=fitted.model_dump(mode="json"), fitted_at=timezone.now(), updated_at=timezone.now()
    )
    # Read back even when ours were stored: later scoring reads the stored numbers, and
    # jsonb keeps no negative zero.
    version.refresh_from_db(fields=["fitted", "fitted_at"])
    assert version.fitted_transforms is not None
    return version.fitted_transforms, bool(stored)


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

        run.enqueue_after_commit(score_responses, run_id=run.pk)
    return run


def score_run_claim(*, run_id: int) -> ScoreRun | None:
    """Move a queued run to running (compare-and-set); None if it is gone or not queued."""
    if not ScoreRun.claim(run_id):
        logger.info("score run %s: not queued any more, nothing to do", run_id)
        return None
    return ScoreRun.objects.select_related("version__function").get(pk=run_id)


def score_run_fail(*, run: ScoreRun, error: str) -> ScoreRun:
    """Mark a run failed with a message a person can act on."""
    run.fail(error)
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
            prompts[prompt_id] = (prompt_text(prompt_input), reference)
        ids = [response_id for response_id, _, _ in page]
        items = []
        for _, text, prompt_id in page:
            prompt, reference = prompts[prompt_id]
            items.append(ScoreItem(prompt, text, reference))
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


def _execute_copied(*, run: ScoreRun, copied: Copied, sources: Sources) -> ScoreRun:
    """Finish a run whose raw values were all copied: fit if needed, combine, write at once.

    The scores and the finished run row are one transaction; a plain INSERT that met
    rows another run of the version wrote meanwhile is rolled back and upserted.
    """
    version = run.version
    spec = version.parsed_spec
    ids, raw = copied.ids, copied.raw
    fitted = version.fitted_transforms
    if fitted is None:
        fitted, run.fitted_here = _version_store_fitted(version=version, fitted=raw.fit(spec))
    totals = raw.rewards(spec, fitted).totals
    now = timezone.now()
    finished = {
        "responses_total": len(ids),
        "responses_scored": len(ids),
        "status": ScoreRun.Status.SUCCEEDED,
        "fitted_here": run.fitted_here,
        "finished_at": now,
        "updated_at": now,
    }
    for upsert in (False, True):
        try:
            with transaction.atomic():
                copied_scores_write(
                    version=version,
                    ids=ids,
                    totals=totals,
                    sources=sources,
                    names=spec.names,
                    upsert=upsert,
                )
                ScoreRun.objects.filter(pk=run.pk).update(**finished)
            break
        except IntegrityError:
            if upsert:
                raise
    for field, value in finished.items():
        setattr(run, field, value)
    return run


def score_run_execute(
    *, run: ScoreRun, compute: ComputeRaw, batch_size: int = JOB_BATCH
) -> ScoreRun:
    """Score every response of the run's project, batch by batch, keeping progress in the row.

    A version without statistics is fitted on all the raw values first (and the run
    records that it did); rows are upserted, so running it again rewrites the same scores.
    Raw values of components identical to an earlier scored version's are copied from
    its Score rows instead of being computed again (`reuse_sources`).
    """
    version = run.version
    spec = version.parsed_spec
    project_id = run.project_id
    fitted = version.fitted_transforms
    held: list[tuple[list[int], RawValues]] = []
    sources = reuse_sources(version=version)
    try:
        copied = copied_raw_values(project_id=project_id, spec=spec, sources=sources)
        if copied is not None:
            return _execute_copied(run=run, copied=copied, sources=sources)
        total = Response.objects.filter(prompt__project_id=project_id).count()
        ScoreRun.objects.filter(pk=run.pk).update(responses_total=total)
        for ids, items in _response_batches(project_id, batch_size):
            known = known_values(sources, ids) if sources.by_name else None
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
    run.finish(fitted_here=run.fitted_here)
    return run
