"""Training runs, the registry of reward models, and getting a model's files onto a worker.

A run's life: `training_run_create` freezes the data (snapshot) and queues the task;
the task claims it (`training_run_claim`, a compare-and-set from queued), trains through
`training_run_execute` and ends it succeeded, failed or cancelled. A run is `succeeded`
only after its files are in storage and its RewardModel row exists, written with the
status flip in one transaction. A worker that dies mid-run stops its heartbeat; the run
is then marked failed by `training_runs_fail_stale`, which runs when a newer run is made,
when the message is redelivered, and when a worker with the same name starts again.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.models import Project, User
from apps.accounts.settings_schema import format_validation_error
from apps.annotation.models import Label
from apps.core.errors import ApplicationError
from apps.reward_models.models import (
    HEARTBEAT_TIMEOUT,
    RetrainRule,
    RewardModel,
    TrainingRun,
)
from apps.reward_models.progress import RunReporter, progress_clear
from apps.reward_models.selectors import reward_model_comparison
from apps.reward_models.snapshot import (
    snapshot_check_trainable,
    snapshot_pairs,
    snapshot_rated,
    snapshot_take,
)
from workers.contracts import (
    HEAD_FILES,
    PAIR_REWARDS,
    ScoringError,
    TrainingCancelled,
    TrainingOutcome,
)
from workers.training.settings import TrainingSettings

logger = logging.getLogger(__name__)

_LOCAL_CACHE = Path(tempfile.gettempdir()) / "palate-heads"
ACTIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


# --- registry ----------------------------------------------------------------------------


def _upload(directory: Path, files: tuple[str, ...] | list[str], prefix: str) -> None:
    """Copy the files to storage under `prefix`; on any error, remove what was copied."""
    written: list[str] = []
    try:
        for file_name in files:
            written.append(
                default_storage.save(
                    f"{prefix}/{file_name}", ContentFile((directory / file_name).read_bytes())
                )
            )
    except BaseException:
        for path in written:
            default_storage.delete(path)
        raise


def _artifact_delete(prefix: str, files: list[str]) -> None:
    for file_name in files:
        default_storage.delete(f"{prefix}/{file_name}")


@transaction.atomic
def reward_model_create(
    *,
    project: Project,
    name: str,
    head_kind: str,
    directory: Path,
    backbone: str = "all-MiniLM-L6-v2",
    metrics: dict[str, Any] | None = None,
    files: tuple[str, ...] | list[str] = HEAD_FILES,
) -> RewardModel:
    """Copy a saved head (HEAD_FILES and any other `files` in `directory`) to storage.

    The storage prefix is new for every model, so a model's files never change.
    """
    names = list(dict.fromkeys([*HEAD_FILES, *files]))
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ApplicationError(f"The head in {directory} lacks {', '.join(missing)}.")
    prefix = f"reward_models/{project.pk}/{uuid.uuid4().hex}"
    _upload(directory, names, prefix)
    return RewardModel.objects.create(
        project=project,
        name=name,
        backbone=backbone,
        head_kind=head_kind,
        artifact_path=prefix,
        files=names,
        metrics=metrics or {},
    )


@transaction.atomic
def reward_model_promote(*, model: RewardModel) -> RewardModel:
    """Make `model` its project's active model; the previously promoted one steps down."""
    RewardModel.objects.select_for_update().filter(project_id=model.project_id).exists()
    RewardModel.objects.filter(project_id=model.project_id, is_promoted=True).exclude(
        pk=model.pk
    ).update(is_promoted=False)
    model.is_promoted = True
    model.promoted_at = timezone.now()
    model.save(update_fields=["is_promoted", "promoted_at", "updated_at"])
    return model


class PromotionNeedsConfirmation(ApplicationError):
    """The candidate is worse than the active model on the pairs both runs held out."""


def reward_model_promote_checked(*, model: RewardModel, confirm: bool) -> RewardModel:
    """Promote, unless the candidate is worse than the active model on the pairs both
    runs held out and the caller has not confirmed; then raise PromotionNeedsConfirmation
    (with both accuracies, their intervals and the number of pairs) and change nothing."""
    active = RewardModel.objects.filter(project_id=model.project_id, is_promoted=True).first()
    comparison = reward_model_comparison(candidate=model, active=active)
    if comparison is not None and comparison.candidate_is_worse and not confirm:
        assert active is not None
        raise PromotionNeedsConfirmation(
            f"{model.name} is worse than the active model {active.name} on the pairs both "
            f"runs held out. {comparison.describe()} Confirm to promote it anyway.",
            extra={
                "candidate_accuracy": comparison.candidate_accuracy,
                "active_accuracy": comparison.active_accuracy,
                "candidate_interval": list(comparison.candidate_interval),
                "active_interval": list(comparison.active_interval),
                "difference_interval": list(comparison.difference_interval),
                "held_out_pairs": comparison.pairs,
                "separable": comparison.is_separable,
            },
        )
    return reward_model_promote(model=model)


def reward_model_local_directory(*, model: RewardModel) -> Path:
    """A local folder holding the model's head files, fetched from storage once per worker.

    Works the same for local disk and S3: the files are copied into a temporary folder
    named after the storage prefix (which never changes content), and reused after.
    """
    names = list(model.files or HEAD_FILES)
    target = _LOCAL_CACHE / model.artifact_path.replace("/", "_")
    if all((target / name).is_file() for name in names):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for file_name in names:
        try:
            with default_storage.open(f"{model.artifact_path}/{file_name}", "rb") as source:
                data = source.read()
        except FileNotFoundError:
            raise ApplicationError(
                f"Reward model {model.pk} has no {file_name} in storage."
            ) from None
        target.joinpath(file_name).parent.mkdir(parents=True, exist_ok=True)
        partial = target / f"{file_name}.part"
        partial.write_bytes(data)
        partial.replace(target / file_name)  # atomic: a reader never sees half a file
    return target


# --- training runs -----------------------------------------------------------------------


def training_settings_parse(raw: Any) -> TrainingSettings:
    """Validate a run's settings (None or {} gives the defaults); errors name the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ApplicationError("settings: must be an object.")
    try:
        return TrainingSettings.model_validate(raw)
    except PydanticValidationError as exc:
        lines = format_validation_error(exc)
        raise ApplicationError("; ".join(lines), extra={"settings": lines}) from None


def training_runs_fail_stale(*, project: Project | None = None, worker: str | None = None) -> int:
    """Mark failed the running runs whose worker is gone: no heartbeat for HEARTBEAT_TIMEOUT,
    or (with `worker`) any run that this worker name held before it started again."""
    now = timezone.now()
    dead = Q(heartbeat_at__lt=now - HEARTBEAT_TIMEOUT) | Q(
        heartbeat_at__isnull=True, started_at__lt=now - HEARTBEAT_TIMEOUT
    )
    if worker:
        dead |= Q(worker=worker)
    runs = TrainingRun.objects.filter(dead, status=TrainingRun.Status.RUNNING)
    if project is not None:
        runs = runs.filter(project=project)
    return runs.update(
        status=TrainingRun.Status.FAILED,
        error="The worker running this stopped (killed or crashed); no model was registered.",
        finished_at=now,
        updated_at=now,
    )


@transaction.atomic
def training_run_create(
    *,
    project: Project,
    user: User | None,
    settings: TrainingSettings,
    trigger: str = TrainingRun.Trigger.MANUAL,
    enqueue: bool = True,
) -> TrainingRun:
    """Freeze the training data and queue the run for a GPU worker once this commits."""
    training_runs_fail_stale(project=project)
    snapshot = snapshot_take(project=project, settings=settings)
    snapshot_check_trainable(snapshot)
    baseline = RewardModel.objects.filter(project=project, is_promoted=True).first()
    run = TrainingRun.objects.create(
        project=project,
        created_by=user,
        trigger=trigger,
        settings=settings.model_dump(mode="json"),
        snapshot=snapshot,
        train_pairs=snapshot["counts"]["train"],
        validation_pairs=snapshot["counts"]["validation"],
        baseline_model=baseline,
    )
    progress_clear(run.pk)  # a database reset can hand out an id again
    if enqueue:
        from workers.tasks.reward_models import train_reward_model

        run.enqueue_after_commit(train_reward_model, run_id=run.pk)
    return run


@transaction.atomic
def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop (its worker ends it)."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.is_finished:
        raise ApplicationError(f"Run {run.pk} has already finished ({run.status}).")
    if run.status == TrainingRun.Status.QUEUED:
        run.end(TrainingRun.Status.CANCELLED, error="Cancelled before a worker started it.")
    else:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested", "updated_at"])
    return run


def training_run_claim(*, run_id: int, worker: str = "") -> TrainingRun | None:
    """Take a queued run (compare-and-set to running); None if it is not queued any more.

    A redelivered message for a run another worker holds does nothing; one for a run
    whose worker is gone (no heartbeat) fails it.
    """
    now = timezone.now()
    claimed = TrainingRun.claim(run_id, heartbeat_at=now, worker=worker[:200], stage="starting")
    run = TrainingRun.objects.select_related("project", "baseline_model").filter(pk=run_id).first()
    if run is None:
        logger.warning("training run %s vanished before it ran", run_id)
        return None
    if not claimed:
        if run.status == TrainingRun.Status.RUNNING:
            training_runs_fail_stale(project=run.project)
        logger.info("training run %s is %s; not training it again", run_id, run.status)
        return None
    return run


_EXPECTED_ERRORS = (ApplicationError, ValueError, ScoringError, OSError, DatabaseError)

Train = Callable[..., TrainingOutcome]


def training_run_execute(*, run: TrainingRun, train: Train) -> TrainingRun:
    """Train a claimed run with `train` (workers.ml.training.train_reward_model), register
    its model and mark it succeeded, in that order; or end it failed or cancelled.

    Bad input (no pairs, too few validation pairs) fails the run with the engine's
    message; anything else is a bug, raised after the run is failed.
    """
    from apps.rewards.embedding_store import DatabaseEmbeddingStore

    reporter = RunReporter(run)
    reporter.log(f"training on {run.train_pairs} pairs, validating on {run.validation_pairs}")
    try:
        settings = TrainingSettings.model_validate(run.settings)
        pairs = snapshot_pairs(run.snapshot)
        rated = snapshot_rated(run.snapshot)
        baseline_dir = None
        if run.baseline_model is not None:
            baseline_dir = reward_model_local_directory(model=run.baseline_model)
        with tempfile.TemporaryDirectory(prefix="palate-training-") as scratch:
            outcome = train(
                pairs=pairs,
                rated=rated,
                settings=settings,
                embedding_store=DatabaseEmbeddingStore(),
                out_directory=Path(scratch),
                on_progress=reporter,
                should_stop=reporter.should_stop,
                baseline_head=baseline_dir,
            )
            reporter.log("uploading the model")
            reporter.flush()
            _register(run, outcome, reporter)
    except TrainingCancelled:
        reporter.log("cancelled")
        reporter.flush()
        TrainingRun.end_running(
            run.pk, TrainingRun.Status.CANCELLED, error="Cancelled while training."
        )
    except _EXPECTED_ERRORS as exc:
        message = exc.message if isinstance(exc, ApplicationError) else str(exc)
        logger.warning("training run %s failed: %s", run.pk, message)
        reporter.log(f"failed: {message}")
        reporter.flush()
        TrainingRun.end_running(run.pk, TrainingRun.Status.FAILED, error=message[:2000])
    except BaseException:
        reporter.log("failed: internal error")
        reporter.flush()
        TrainingRun.end_running(
            run.pk, TrainingRun.Status.FAILED, error="internal error; see the worker's log"
        )
        raise
    run.refresh_from_db()
    return run


def _register(run: TrainingRun, outcome: TrainingOutcome, reporter: RunReporter) -> None:
    """Upload the head, then create its RewardModel and flip the run to succeeded together."""
    directory = Path(outcome.head_directory)
    names = list(dict.fromkeys([*HEAD_FILES, *outcome.files]))
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ApplicationError(f"The trained head lacks {', '.join(missing)}.")
    prefix = f"reward_models/{run.project_id}/{uuid.uuid4().hex}"
    _upload(directory, names, prefix)
    try:
        with transaction.atomic():
            locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if locked.status != TrainingRun.Status.RUNNING:
                raise ApplicationError(f"Run {run.pk} was ended ({locked.status}) while training.")
            metrics = dict(outcome.metrics)
            baseline_metrics = dict(outcome.baseline_metrics or {})
            # Per-pair rewards are stored apart: the comparisons read them, the API's
            # metrics stay small.
            pair_rewards = {
                "model": metrics.pop(PAIR_REWARDS, []),
                "baseline": baseline_metrics.pop(PAIR_REWARDS, []),
            }
            model = RewardModel.objects.create(
                project_id=run.project_id,
                name=f"Run {run.pk} · {outcome.head_kind}",
                backbone=outcome.backbone,
                head_kind=outcome.head_kind,
                artifact_path=prefix,
                files=names,
                metrics=metrics,
            )
            reporter.progress, reporter.stage = 1.0, "done"
            reporter.log(f"registered reward model {model.pk}")
            locked.status = TrainingRun.Status.SUCCEEDED
            locked.reward_model = model
            locked.metrics = metrics
            locked.baseline_metrics = baseline_metrics
            locked.pair_rewards = pair_rewards
            locked.history = [dict(entry) for entry in outcome.history] or reporter.history
            locked.progress, locked.stage, locked.logs = 1.0, "done", reporter.logs
            locked.finished_at = locked.heartbeat_at = timezone.now()
            locked.save(
                update_fields=[
                    "status", "reward_model", "metrics", "baseline_metrics", "pair_rewards",
                    "history",
                    "progress", "stage", "logs", "finished_at", "heartbeat_at", "updated_at",
                ]
            )  # fmt: skip
    except BaseException:
        _artifact_delete(prefix, names)
        raise
    reporter.history = locked.history
    reporter.flush()


# --- the "retrain after N new labels" rule -----------------------------------------------


@transaction.atomic
def retrain_rule_set(
    *, project: Project, after_labels: int | None, settings: TrainingSettings
) -> RetrainRule:
    """Turn the rule on (N new labels) or off (None), with the settings its runs use."""
    if after_labels is not None and after_labels < 1:
        raise ApplicationError("after_labels: must be at least 1, or empty to turn the rule off.")
    rule, _ = RetrainRule.objects.update_or_create(
        project=project,
        defaults={"after_labels": after_labels, "settings": settings.model_dump(mode="json")},
    )
    return rule


def labels_since_last_run(*, project: Project) -> int:
    """Labels made in the project since its latest run was created (all, with no run)."""
    labels = Label.objects.filter(comparison__project=project)
    last = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    if last is not None:
        labels = labels.filter(created_at__gt=last.created_at)
    return labels.count()


@transaction.atomic
def retrain_if_due(*, project_id: int) -> TrainingRun | None:
    """Start a run when the project's rule says so: N new labels since the last run, and
    no run queued or running. The project row is locked, so two checks start one run."""
    project = Project.objects.select_for_update().filter(pk=project_id).first()
    if project is None:
        return None
    rule = RetrainRule.objects.filter(project=project, after_labels__isnull=False).first()
    if rule is None or rule.after_labels is None:
        return None
    if TrainingRun.objects.filter(project=project, status__in=ACTIVE).exists():
        return None
    if labels_since_last_run(project=project) < rule.after_labels:
        return None
    try:
        settings = TrainingSettings.model_validate(rule.settings)
        return training_run_create(
            project=project, user=None, settings=settings, trigger=TrainingRun.Trigger.NEW_LABELS
        )
    except (ApplicationError, PydanticValidationError) as exc:
        logger.warning("retrain rule of project %s could not start a run: %s", project_id, exc)
        return None
