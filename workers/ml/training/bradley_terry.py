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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workers.contracts import TrainingCancelled
from workers.ml.heads import HeadConfig, RewardHead, build_head, build_member
from workers.training.settings import TrainingSettings

# A validation loss must fall by this much to reset the patience; the best epoch is kept
# whatever the size of its improvement.
MIN_IMPROVEMENT = 1e-4
# (epoch, train loss, validation loss) after each epoch.
EpochCallback = Callable[[int, float, float], None]


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run torch on one CPU thread for a while: a head's matmuls are small, so more
    threads only add synchronisation, and on a busy machine they thrash (measured on
    16,000 pairs on 2 shared cores: 8.5 s per epoch on one thread, 115 s on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


class StackedMembers(nn.Module):
    """K members' weights stacked, so an ensemble trains in one batched matmul per step.

    Each member sees its own rows (its bootstrap sample); the gradients, and so AdamW's
    updates, are those of K separately trained members. `members()` unstacks them into
    the `nn.Sequential`s of workers.ml.heads.build_member for saving.
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        k, d, h = config.ensemble_size, config.input_dim, config.hidden_dim
        sizes = [(d, h), (h, 1)] if config.kind == "mlp" and h else [(d, 1)]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in sizes:  # nn.Linear's initialisation, member by member
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(
                nn.Parameter(torch.empty(k, fan_in, fan_out).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.empty(k, 1, fan_out).uniform_(-bound, bound)))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """(K, B, input_dim) -> (K, B): each member's rewards for its own rows."""
        x = rows
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = self.dropout(torch.relu(x))
        return x.squeeze(-1)

    def shared(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> (K, B): every member's rewards for the same rows."""
        return self(rows.unsqueeze(0).expand(len(self.weights[0]), -1, -1))

    def members(self) -> list[nn.Module]:
        out = []
        for k in range(self.config.ensemble_size):
            member = build_member(self.config)
            linears = [m for m in member if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for linear, weight, bias in zip(linears, self.weights, self.biases, strict=True):
                    linear.weight.copy_(weight[k].T)
                    linear.bias.copy_(bias[k, 0])
            out.append(member)
        return out


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
    stacked = StackedMembers(config).to(device)
    k, n = config.ensemble_size, len(train)
    if k == 1:
        samples = torch.arange(n).unsqueeze(0)
    else:
        samples = torch.randint(n, (k, n), generator=generator)
    optimiser = torch.optim.AdamW(
        stacked.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    targets = smoothed(train.targets, settings.label_smoothing)
    validation_rows = torch.cat([validation.chosen, validation.rejected])
    history: list[dict[str, float]] = []
    best_loss, best_state, stale = math.inf, copy.deepcopy(stacked.state_dict()), 0
    for epoch in range(1, settings.epochs + 1):
        stacked.train()
        total, batches = 0.0, 0
        orders = torch.stack([samples[m][torch.randperm(n, generator=generator)] for m in range(k)])
        for batch in orders.to(device).split(settings.batch_size, dim=1):
            if should_stop():
                raise TrainingCancelled("cancelled while training")
            size = batch.shape[1]
            rewards = stacked(torch.cat([train.chosen[batch], train.rejected[batch]], dim=1))
            difference = rewards[:, :size] - rewards[:, size:] - train.margins[batch]
            # The sum over members of each member's mean loss: K independent members.
            loss = (
                F.binary_cross_entropy_with_logits(difference, targets[batch], reduction="none")
                .mean(dim=1)
                .sum()
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) / k
            batches += 1
        stacked.eval()
        with torch.inference_mode():
            rewards = stacked.shared(validation_rows).mean(dim=0)
            size = len(validation)
            validation_loss = float(
                pair_loss(rewards[:size], rewards[size:], validation.targets, validation.margins)
            )
        train_loss = total / max(batches, 1)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss}
        )
        on_epoch(epoch, train_loss, validation_loss)
        stale = 0 if validation_loss < best_loss - MIN_IMPROVEMENT else stale + 1
        if validation_loss < best_loss:
            best_loss, best_state = validation_loss, copy.deepcopy(stacked.state_dict())
        if stale >= settings.patience:
            break
    stacked.load_state_dict(best_state)
    head = RewardHead([member.to(device) for member in stacked.members()])
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
