"""Training a reward model on a project's preferences: `train_reward_model`.

The Celery task imports this inside its body (torch). Two trainers:
- `head`: embed every text once through the embedding cache (the backbone frozen),
  then train a linear or MLP Bradley–Terry head (or an ensemble of them) and, when
  responses carry criterion ratings, per-criterion regression heads — seconds on a CPU;
- `finetune`: fine-tune the whole backbone as a sequence classifier with TRL
  RewardTrainer's loss (workers.ml.training.finetune) — for GPU workers.
Both save a head folder that the `reward_model` component scores with, and measure
it (and the model in use, `baseline_head`) on the same validation split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from workers.contracts import (
    HEAD_FILES,
    PAIR_REWARDS,
    EmbeddingStore,
    HeadArtifact,
    RatedResponse,
    ScoreItem,
    ScoringError,
    ScoringResources,
    TrainingCancelled,
    TrainingOutcome,
    TrainingPair,
    TrainingProgress,
    prompt_as_text,
)
from workers.ml.components import ScoringContext, build_component
from workers.ml.embeddings import DEFAULT_BACKBONE, Embedder, device, load_encoder
from workers.ml.heads import HeadConfig, RewardHead, save_head
from workers.ml.training.bradley_terry import (
    PairTensors,
    one_cpu_thread,
    train_criterion_heads,
    train_pair_head,
)
from workers.ml.training.data import (
    FeatureTexts,
    StopPoll,
    checked_pairs,
    checked_rated,
    embed_all,
    feature_texts,
    pair_feature_texts,
    pair_texts,
    stack_features,
    stop_now,
)
from workers.ml.training.metrics import pair_metrics, regression_metrics
from workers.rewards import spec
from workers.training.settings import TrainingSettings

__all__ = ["TrainingCancelled", "evaluate_head", "train_reward_model"]

# Shares of the progress bar.
EMBEDDING_SPAN = (0.0, 0.4)
TRAINING_SPAN = (0.4, 0.9)


def _no_progress(progress: TrainingProgress) -> None:
    return None


def _never() -> bool:
    return False


def train_reward_model(
    *,
    pairs: Sequence[TrainingPair],
    rated: Sequence[RatedResponse] = (),
    settings: TrainingSettings,
    backbone: str = DEFAULT_BACKBONE,
    embedding_store: EmbeddingStore | None,
    out_directory: Path,
    on_progress: Callable[[TrainingProgress], None] = _no_progress,
    should_stop: Callable[[], bool] = _never,
    baseline_head: Path | None = None,
) -> TrainingOutcome:
    """Train, save into `out_directory` and measure a reward model on `pairs`.

    Raises ValueError for unusable input (no training pairs, a prompt in both splits,
    fewer than 2 decided validation pairs) and TrainingCancelled when `should_stop`
    answers True; a cancelled or failed run leaves no head files behind.
    """
    started = time.perf_counter()
    train, validation = checked_pairs(pairs, settings)
    should_stop = StopPoll(should_stop)
    if settings.trainer == "finetune":
        from workers.ml.training.finetune import finetune_reward_model

        config, history, chosen, rejected = finetune_reward_model(
            train=train,
            validation=validation,
            settings=settings,
            backbone=backbone,
            out_directory=out_directory,
            on_progress=on_progress,
            should_stop=should_stop,
        )
        head_kind = "finetune"
        criteria: dict[str, dict[str, float | None]] = {}
        uncertainty = None
    else:
        config, history, chosen, rejected, criteria, uncertainty = _train_head(
            train=train,
            validation=validation,
            rated=rated,
            settings=settings,
            backbone=backbone,
            embedding_store=embedding_store,
            out_directory=out_directory,
            on_progress=on_progress,
            should_stop=should_stop,
        )
        head_kind = "ensemble" if config.ensemble_size > 1 else config.kind
    on_progress(TrainingProgress(stage="evaluating", fraction=TRAINING_SPAN[1]))
    metrics = _metrics(validation, chosen, rejected, settings)
    metrics["train_pairs"] = len(train)
    if uncertainty is not None:
        metrics["uncertainty"] = uncertainty
    if criteria:
        metrics["criteria"] = criteria
    baseline_metrics = None
    if baseline_head is not None:
        if should_stop():
            raise TrainingCancelled("cancelled while evaluating")
        try:
            baseline_metrics = evaluate_head(
                baseline_head, validation, settings=settings, embedding_store=embedding_store
            )
        except ScoringError as exc:  # the new model is still good; say why there is no baseline
            metrics["baseline_error"] = str(exc)
    metrics["seconds"] = time.perf_counter() - started
    on_progress(TrainingProgress(stage="evaluating", fraction=1.0, message="done"))
    return TrainingOutcome(
        head_directory=str(out_directory),
        files=HEAD_FILES,
        head_kind=head_kind,
        backbone=backbone,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        history=tuple(history),
    )


def _metrics(
    validation: Sequence[TrainingPair],
    chosen: np.ndarray,
    rejected: np.ndarray,
    settings: TrainingSettings,
) -> dict[str, object]:
    metrics = pair_metrics(
        chosen=chosen,
        rejected=rejected,
        targets=np.array([p.target for p in validation]),
        margins=np.array([settings.margin(p.strength) for p in validation]),
        strengths=[p.strength for p in validation],
        agreements=[p.agreement for p in validation],
        chosen_lengths=[len(p.chosen) for p in validation],
        rejected_lengths=[len(p.rejected) for p in validation],
        seed=settings.seed,
    )
    metrics[PAIR_REWARDS] = pair_rewards(validation, chosen, rejected)
    return metrics


def pair_rewards(
    pairs: Sequence[TrainingPair], chosen: np.ndarray, rejected: np.ndarray
) -> list[list[float | int]]:
    """`[comparison id, chosen id, rejected id, r_chosen − r_rejected]` for each decided pair
    with known response ids: what lets two models be compared on the pairs both held out."""
    return [
        [p.pair_id, p.chosen_id, p.rejected_id, round(float(c - r), 6)]
        for p, c, r in zip(pairs, chosen, rejected, strict=True)
        if p.target != 0.5 and p.chosen_id is not None and p.rejected_id is not None
    ]


def evaluate_head(
    directory: Path,
    validation: Sequence[TrainingPair],
    *,
    settings: TrainingSettings,
    embedding_store: EmbeddingStore | None,
) -> dict[str, object]:
    """The metrics of a saved head (any kind) on `validation`, scored as the
    `reward_model` component scores it, so a baseline is measured as it is used."""
    config_path = directory
    resources = ScoringResources(
        heads={"baseline": HeadArtifact(model_id=0, directory=str(config_path), backbone="")},
        embedding_store=embedding_store,
    )
    component = build_component(
        spec.RewardModel(name="baseline", type="reward_model"), ScoringContext(resources)
    )
    prompts = [prompt_as_text(p.prompt) for p in validation]
    items = [ScoreItem(t, p.chosen) for t, p in zip(prompts, validation, strict=True)]
    items += [ScoreItem(t, p.rejected) for t, p in zip(prompts, validation, strict=True)]
    for backbone, texts in component.texts_to_embed(items).items():
        component.context.embedder(backbone).prefetch(texts)
    values = np.array(component.score(items), dtype=np.float64)
    return _metrics(validation, values[: len(validation)], values[len(validation) :], settings)


def _pair_tensors(
    pairs: Sequence[TrainingPair],
    chosen: np.ndarray,
    rejected: np.ndarray,
    settings: TrainingSettings,
    on: str,
) -> PairTensors:
    return PairTensors(
        chosen=torch.from_numpy(chosen).to(on),
        rejected=torch.from_numpy(rejected).to(on),
        targets=torch.tensor([p.target for p in pairs], dtype=torch.float32, device=on),
        margins=torch.tensor(
            [settings.margin(p.strength) for p in pairs], dtype=torch.float32, device=on
        ),
    )


def _train_head(
    *,
    train: Sequence[TrainingPair],
    validation: Sequence[TrainingPair],
    rated: Sequence[RatedResponse],
    settings: TrainingSettings,
    backbone: str,
    embedding_store: EmbeddingStore | None,
    out_directory: Path,
    on_progress: Callable[[TrainingProgress], None],
    should_stop: Callable[[], bool],
) -> tuple[
    HeadConfig,
    list[dict[str, float]],
    np.ndarray,
    np.ndarray,
    dict[str, dict[str, float | None]],
    float | None,
]:
    on = device()
    embedder = Embedder(load_encoder(backbone), embedding_store)
    rated_train, rated_validation, criteria = checked_rated(rated)
    config = HeadConfig(
        kind=settings.head_kind,
        backbone=backbone,
        features=settings.features,
        embedding_dim=embedder.encoder.dimensions,
        hidden_dim=settings.hidden_dim if settings.head_kind == "mlp" else None,
        dropout=settings.dropout if settings.head_kind == "mlp" else 0.0,
        ensemble_size=settings.ensemble_size,
        criteria=criteria,
        context_tokens=(
            embedder.encoder.context_tokens if settings.features == "context_response" else None
        ),
        prompt_tokens=(
            embedder.encoder.context_tokens if settings.features == "prompt_response" else None
        ),
        interactions=settings.features == "prompt_response",
    )

    # Embed every text once (the cache answers what it has), then build feature rows.
    groups: dict[str, object] = {}
    for name, group in (("train", train), ("validation", validation)):
        prompts, chosen, rejected = pair_texts(group)
        groups[name] = pair_feature_texts(settings.features, prompts, chosen, rejected, embedder)
    for name, group_rated in (("rated_train", rated_train), ("rated_validation", rated_validation)):
        groups[name] = feature_texts(
            settings.features,
            [prompt_as_text(r.prompt) for r in group_rated],
            [r.response for r in group_rated],
            embedder,
        )
    texts: list[str] = []
    for value in groups.values():
        for feature in value if isinstance(value, tuple) else (value,):
            texts += feature.responses + (feature.prompts or [])
    embed_all(
        texts, embedder, on_progress=on_progress, should_stop=should_stop, span=EMBEDDING_SPAN
    )

    def stack(texts: FeatureTexts) -> np.ndarray:
        return stack_features(texts, embedder, interactions=config.interactions)

    def rows(name: str) -> tuple[np.ndarray, np.ndarray]:
        chosen_texts, rejected_texts = groups[name]  # type: ignore[misc]
        return stack(chosen_texts), stack(rejected_texts)

    train_tensors = _pair_tensors(train, *rows("train"), settings, on)
    validation_tensors = _pair_tensors(validation, *rows("validation"), settings, on)

    low, high = TRAINING_SPAN

    def on_epoch(epoch: int, train_loss: float, validation_loss: float) -> None:
        on_progress(
            TrainingProgress(
                stage="training",
                fraction=low + (high - low) * epoch / settings.epochs,
                epoch=epoch,
                train_loss=train_loss,
                validation_loss=validation_loss,
            )
        )

    with one_cpu_thread():
        head, history = train_pair_head(
            config, train_tensors, validation_tensors, settings,
            on_epoch=on_epoch, should_stop=should_stop,
        )  # fmt: skip

    criterion_metrics: dict[str, dict[str, float | None]] = {}
    if criteria and rated_train:
        rated_validation_tensors = _rated_tensors(
            rated_validation,
            stack(groups["rated_validation"]),
            criteria,
            on,  # type: ignore[arg-type]
        )
        with one_cpu_thread():
            criterion_head = train_criterion_heads(
                config,
                _rated_tensors(rated_train, stack(groups["rated_train"]), criteria, on),  # type: ignore[arg-type]
                rated_validation_tensors,
                settings,
                should_stop=should_stop,
            )
        head = RewardHead(list(head.members), list(criterion_head.criteria)).eval()
        criterion_metrics = _criterion_metrics(head, rated_validation_tensors, criteria)
    elif criteria:
        config = config.model_copy(update={"criteria": ()})

    with torch.inference_mode():
        both = torch.cat([validation_tensors.chosen, validation_tensors.rejected])
        members = head.member_rewards(both).cpu().numpy().astype(np.float64)
    n = len(validation)
    rewards = members.mean(axis=1)
    uncertainty = None
    if config.ensemble_size > 1:
        uncertainty = float((members[:n] - members[n:]).std(axis=1).mean())
    if stop_now(should_stop):
        raise TrainingCancelled("cancelled before saving")
    save_head(head, config, out_directory)
    return config, history, rewards[:n], rewards[n:], criterion_metrics, uncertainty


def _rated_tensors(
    rated: Sequence[RatedResponse], features: np.ndarray, criteria: tuple[str, ...], on: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ratings = np.zeros((len(rated), len(criteria)), dtype=np.float32)
    mask = np.zeros_like(ratings)
    for i, item in enumerate(rated):
        for j, name in enumerate(criteria):
            if name in item.ratings:
                ratings[i, j], mask[i, j] = item.ratings[name], 1.0
    return (
        torch.from_numpy(features).to(on),
        torch.from_numpy(ratings).to(on),
        torch.from_numpy(mask).to(on),
    )


def _criterion_metrics(
    head: RewardHead,
    validation: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    criteria: tuple[str, ...],
) -> dict[str, dict[str, float | None]]:
    features, ratings, mask = validation
    with torch.inference_mode():
        predicted = head.criterion_scores(features).cpu().numpy()
    ratings_np, mask_np = ratings.cpu().numpy(), mask.cpu().numpy().astype(bool)
    return {
        name: regression_metrics(predicted[mask_np[:, j], j], ratings_np[mask_np[:, j], j])
        for j, name in enumerate(criteria)
        if mask_np[:, j].any()
    }
