"""Bradley–Terry heads on frozen embeddings, and per-criterion regression heads, in torch.

The pair loss is −[t'·log σ(d) + (1 − t')·log σ(−d)] with d = r_c − r_r − m(strength):
−log σ(r_c − r_r − m) for a plain preference (t = 1), a soft target for a kept tie
(t = 0.5), and label smoothing ε moving t to t' = t(1 − ε) + (1 − t)ε (the
conservative-DPO form). AdamW carries the weight decay. Each epoch ends with the
validation loss of the members' mean; the best epoch's weights are kept and training
stops after `patience` epochs without a better one. An ensemble trains each member
on its own bootstrap sample of the training pairs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workers.contracts import TrainingCancelled
from workers.ml.heads import HeadConfig, RewardHead, build_head, build_member
from workers.training.settings import TrainingSettings

# A validation loss must fall by this much to reset the patience; the best epoch is kept
# whatever the size of its improvement.
MIN_IMPROVEMENT = 1e-4
# (epoch, train loss, validation loss) after each epoch.
EpochCallback = Callable[[int, float, float], None]


@dataclass(frozen=True)
class PairTensors:
    """Feature rows of the chosen and rejected responses, targets and margins, on a device."""

    chosen: torch.Tensor  # (n, input_dim)
    rejected: torch.Tensor
    targets: torch.Tensor  # (n,)
    margins: torch.Tensor  # (n,)

    def __len__(self) -> int:
        return self.targets.shape[0]


def pair_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, targets: torch.Tensor, margins: torch.Tensor
) -> torch.Tensor:
    """Mean −[t·log σ(d) + (1 − t)·log σ(−d)], d = r_c − r_r − m."""
    return F.binary_cross_entropy_with_logits(chosen - rejected - margins, targets)


def smoothed(targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return targets + label_smoothing * (1.0 - 2.0 * targets)


def _rewards(module: torch.nn.Module, data: PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
    both = module(torch.cat([data.chosen, data.rejected])).squeeze(-1)
    return both[: len(data)], both[len(data) :]


def train_pair_head(
    config: HeadConfig,
    train: PairTensors,
    validation: PairTensors,
    settings: TrainingSettings,
    *,
    on_epoch: EpochCallback,
    should_stop: Callable[[], bool],
) -> tuple[RewardHead, list[dict[str, float]]]:
    """Train `config.ensemble_size` members; the best epoch's head and the loss history."""
    device = train.chosen.device
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    head = RewardHead([build_member(config) for _ in range(config.ensemble_size)]).to(device)
    n = len(train)
    if config.ensemble_size == 1:
        samples = [torch.arange(n)]
    else:
        samples = [torch.randint(n, (n,), generator=generator) for _ in head.members]
    optimisers = [
        torch.optim.AdamW(
            member.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        for member in head.members
    ]
    targets = smoothed(train.targets, settings.label_smoothing)
    history: list[dict[str, float]] = []
    best_loss, best_state, stale = math.inf, copy.deepcopy(head.state_dict()), 0
    for epoch in range(1, settings.epochs + 1):
        head.train()
        total, batches = 0.0, 0
        for member, sample, optimiser in zip(head.members, samples, optimisers, strict=True):
            order = sample[torch.randperm(n, generator=generator)].to(device)
            for batch in order.split(settings.batch_size):
                if should_stop():
                    raise TrainingCancelled("cancelled while training")
                rows = torch.cat([train.chosen[batch], train.rejected[batch]])
                rewards = member(rows).squeeze(-1)
                loss = pair_loss(
                    rewards[: len(batch)],
                    rewards[len(batch) :],
                    targets[batch],
                    train.margins[batch],
                )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
                batches += 1
        head.eval()
        with torch.inference_mode():
            chosen, rejected = _rewards(head, validation)
            validation_loss = float(
                pair_loss(chosen, rejected, validation.targets, validation.margins)
            )
        train_loss = total / max(batches, 1)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss}
        )
        on_epoch(epoch, train_loss, validation_loss)
        stale = 0 if validation_loss < best_loss - MIN_IMPROVEMENT else stale + 1
        if validation_loss < best_loss:
            best_loss, best_state = validation_loss, copy.deepcopy(head.state_dict())
        if stale >= settings.patience:
            break
    head.load_state_dict(best_state)
    return head.eval(), history


def train_criterion_heads(
    config: HeadConfig,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    settings: TrainingSettings,
    *,
    should_stop: Callable[[], bool],
) -> RewardHead:
    """One regression head per criterion (σ of its output predicts the 0..1 rating).

    `train` and `validation` are (features (n, d), ratings (n, C), mask (n, C)); a
    response not rated on a criterion is masked out of that criterion's loss.
    """
    device = train[0].device
    torch.manual_seed(settings.seed)
    head = build_head(config.model_copy(update={"ensemble_size": 1})).to(device)
    optimiser = torch.optim.AdamW(
        head.criteria.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    generator = torch.Generator().manual_seed(settings.seed)

    def masked_mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        error = (head.criterion_scores(x) - y) ** 2 * mask
        return error.sum() / mask.sum().clamp(min=1.0)

    features, ratings, mask = train
    best_loss, best_state, stale = math.inf, copy.deepcopy(head.state_dict()), 0
    for _ in range(settings.epochs):
        head.train()
        for batch in (
            torch.randperm(len(features), generator=generator).to(device).split(settings.batch_size)
        ):
            if should_stop():
                raise TrainingCancelled("cancelled while training criterion heads")
            loss = masked_mse(features[batch], ratings[batch], mask[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        head.eval()
        with torch.inference_mode():
            validation_loss = float(
                masked_mse(*validation) if len(validation[0]) else masked_mse(*train)
            )
        stale = 0 if validation_loss < best_loss - MIN_IMPROVEMENT else stale + 1
        if validation_loss < best_loss:
            best_loss, best_state = validation_loss, copy.deepcopy(head.state_dict())
        if stale >= settings.patience:
            break
    head.load_state_dict(best_state)
    return head.eval()
