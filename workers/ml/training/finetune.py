"""Full fine-tuning of the backbone as a one-output sequence classifier (trainer "finetune").

TRL's RewardTrainer is the reference (research/reward-anchors.md §1.1): the loss is
−log σ(r_c − r_r − margin), plus center_rewards_coefficient · mean((r_c + r_r)²) when
that is set, and dropout is off. Soft targets and label smoothing enter the loss as
in the head trainer. Each text is the end of the prompt followed by the response (the
`context_response` text of workers.ml.heads), cut to `max_length` tokens, so scoring
reads the same text. The weights go into the head folder's `head.pt`, the classifier's
transformers config into `head.json`; the tokenizer is the backbone's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from workers.contracts import TrainingCancelled, TrainingPair, TrainingProgress
from workers.ml.embeddings import backbone_path, device
from workers.ml.heads import HeadConfig, context_texts, save_head
from workers.ml.training.bradley_terry import smoothed
from workers.ml.training.data import pair_texts, stop_now
from workers.training.settings import TrainingSettings

SCORE_BATCH = 64


class FinetunedReward(nn.Module):
    """A sequence classifier with one output (the reward) and its tokenizer."""

    def __init__(self, model: nn.Module, tokenizer: Any, max_length: int) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_backbone(cls, backbone: str, max_length: int) -> FinetunedReward:
        path = backbone_path(backbone)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), num_labels=1, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(model, tokenizer, max_length)

    @classmethod
    def from_state(cls, config: HeadConfig, state: Mapping[str, torch.Tensor]) -> FinetunedReward:
        """An untrained model shaped as the saved config (weights loaded after)."""
        settings = dict(config.transformer_config or {})
        model_type = settings.pop("model_type", "bert")
        model = AutoModelForSequenceClassification.from_config(
            AutoConfig.for_model(model_type, **settings)
        )
        tokenizer = AutoTokenizer.from_pretrained(
            str(backbone_path(config.backbone)), local_files_only=True
        )
        return cls(model, tokenizer, config.context_tokens or 256)

    def texts(self, prompts: Sequence[str], responses: Sequence[str]) -> list[str]:
        return context_texts(prompts, responses, self.tokenizer, self.max_length - 2)

    def rewards(self, texts: Sequence[str]) -> torch.Tensor:
        """(n,): the reward of each text, with gradients (in training mode)."""
        encoded = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(next(self.model.parameters()).device)
        return self.model(**encoded).logits.squeeze(-1)

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        """Rewards of texts already built by `texts`, in batches, without gradients."""
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(texts), SCORE_BATCH):
                out += self.rewards(texts[start : start + SCORE_BATCH]).float().cpu().tolist()
        return out


def _disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def finetune_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    targets: torch.Tensor,
    margins: torch.Tensor,
    center_rewards_coefficient: float | None,
) -> torch.Tensor:
    """TRL RewardTrainer's loss, with soft targets: BCE of σ(r_c − r_r − m) against t."""
    loss = F.binary_cross_entropy_with_logits(chosen - rejected - margins, targets)
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * torch.mean((chosen + rejected) ** 2)
    return loss


def finetune_reward_model(
    *,
    train: Sequence[TrainingPair],
    validation: Sequence[TrainingPair],
    settings: TrainingSettings,
    backbone: str,
    out_directory: Path,
    on_progress: Callable[[TrainingProgress], None],
    should_stop: Callable[[], bool],
) -> tuple[HeadConfig, list[dict[str, float]], np.ndarray, np.ndarray]:
    """Fine-tune, keep the epoch with the best validation loss, save; rewards on validation."""
    on = device()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    reward = FinetunedReward.from_backbone(backbone, settings.max_length).to(on)
    _disable_dropout(reward.model)
    prompts, chosen_responses, rejected_responses = pair_texts(train)
    chosen_texts = reward.texts(prompts, chosen_responses)
    rejected_texts = reward.texts(prompts, rejected_responses)
    val_prompts, val_chosen, val_rejected = pair_texts(validation)
    val_chosen_texts = reward.texts(val_prompts, val_chosen)
    val_rejected_texts = reward.texts(val_prompts, val_rejected)
    targets = smoothed(
        torch.tensor([p.target for p in train], dtype=torch.float32), settings.label_smoothing
    )
    margins = torch.tensor([settings.margin(p.strength) for p in train], dtype=torch.float32)
    val_targets = torch.tensor([p.target for p in validation], dtype=torch.float32)
    val_margins = torch.tensor([settings.margin(p.strength) for p in validation])

    optimiser = torch.optim.AdamW(
        reward.model.parameters(),
        lr=settings.finetune_learning_rate,
        weight_decay=settings.weight_decay,
    )
    batch = settings.finetune_batch_size
    steps_per_epoch = math.ceil(len(train) / batch)
    total_steps = steps_per_epoch * settings.finetune_epochs
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: max(0.0, 1.0 - step / max(total_steps, 1))
    )

    def validation_rewards() -> tuple[np.ndarray, np.ndarray]:
        reward.eval()
        chosen = np.array(reward.score_texts(val_chosen_texts), dtype=np.float64)
        rejected = np.array(reward.score_texts(val_rejected_texts), dtype=np.float64)
        return chosen, rejected

    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor], np.ndarray, np.ndarray] | None = None
    step = 0
    for epoch in range(1, settings.finetune_epochs + 1):
        reward.train()
        _disable_dropout(reward.model)
        total, batches = 0.0, 0
        for indices in torch.randperm(len(train), generator=generator).split(batch):
            if step >= total_steps:
                break
            if should_stop():
                raise TrainingCancelled("cancelled while fine-tuning")
            rows = indices.tolist()
            rewards = reward.rewards(
                [chosen_texts[i] for i in rows] + [rejected_texts[i] for i in rows]
            )
            loss = finetune_loss(
                rewards[: len(rows)],
                rewards[len(rows) :],
                targets[indices].to(on),
                margins[indices].to(on),
                settings.center_rewards_coefficient,
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            total += float(loss.detach())
            batches += 1
            on_progress(
                TrainingProgress(
                    stage="training",
                    fraction=0.9 * step / max(total_steps, 1),
                    epoch=epoch,
                    train_loss=total / batches,
                    message=f"step {step} of {total_steps}",
                )
            )
        if should_stop():
            raise TrainingCancelled("cancelled while fine-tuning")
        chosen, rejected = validation_rewards()
        validation_loss = float(
            finetune_loss(
                torch.from_numpy(chosen), torch.from_numpy(rejected),
                val_targets.double(), val_margins.double(), None,
            )
        )  # fmt: skip
        train_loss = total / max(batches, 1)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss}
        )
        on_progress(
            TrainingProgress(
                stage="training",
                fraction=0.9 * step / max(total_steps, 1),
                epoch=epoch,
                train_loss=train_loss,
                validation_loss=validation_loss,
            )
        )
        if best is None or validation_loss < best[0]:
            state = {k: v.detach().cpu().clone() for k, v in reward.state_dict().items()}
            best = (validation_loss, state, chosen, rejected)
        if step >= total_steps:
            break
    assert best is not None  # at least one epoch ran
    reward.load_state_dict(best[1])
    config = HeadConfig(
        kind="finetune",
        backbone=backbone,
        features="context_response",
        embedding_dim=int(reward.model.config.hidden_size),
        context_tokens=settings.max_length,
        transformer_config=json.loads(reward.model.config.to_json_string()),
    )
    if stop_now(should_stop):
        raise TrainingCancelled("cancelled before saving")
    save_head(reward, config, out_directory)
    return config, history, best[2], best[3]
