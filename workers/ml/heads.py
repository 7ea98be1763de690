"""Reward heads: build, save and load one, and the texts and features it reads.

A saved head is a folder with two files (names in workers.contracts): `head.json`,
the config below, and `head.pt`, a state dict loaded with `weights_only=True` so a
file can hold tensors and nothing that runs. Training (workers.ml.training) writes
heads with `save_head`; scoring reads them with `load_head`.

Kinds: `linear` and `mlp` heads over frozen sentence embeddings, one or an ensemble
of several (trained on bootstrap samples; the reward is their mean, the spread their
disagreement), optionally with per-criterion regression heads beside them; and
`finetune`, a whole transformers sequence classifier whose weights are in `head.pt`
and whose tokenizer is the backbone's.

Features (what is embedded): `response` feeds the response's embedding;
`prompt_response` the prompt's and the response's, embedded separately, side by side
(2 × dimensions), with their elementwise product after them when `interactions` is
set (3 ×), the prompt cut from the left to `prompt_tokens` so a long transcript keeps
its latest turns; `context_response` one embedding of the end of the prompt followed
by the response, the prompt cut from the left so the latest turns survive the
encoder's token limit.

Heads saved in format 1 (a bare `nn.Sequential`) still load and score the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from workers.contracts import HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ScoringError

HEAD_FORMAT = "palate-head/2"
LEGACY_FORMAT = "palate-head/1"
# Between the end of the prompt and the response in a `context_response` text.
CONTEXT_SEPARATOR = "\n\nassistant: "
# A long response still leaves the prompt this share of the token budget.
MIN_PROMPT_SHARE = 0.25


class HeadConfig(BaseModel):
    """What a head is: enough to rebuild the module before loading its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["palate-head/1", "palate-head/2"] = HEAD_FORMAT
    kind: Literal["linear", "mlp", "finetune"]
    backbone: str = Field(min_length=1)
    features: Literal["response", "prompt_response", "context_response"] = "prompt_response"
    embedding_dim: int = Field(gt=0)
    hidden_dim: int | None = Field(default=None, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    ensemble_size: int = Field(default=1, ge=1, le=64)
    criteria: tuple[str, ...] = ()  # per-criterion regression heads, in this order
    # Tokens of prompt + response in a context text (the encoder's limit less its
    # special tokens); for `finetune`, the classifier's max_length.
    context_tokens: int | None = Field(default=None, gt=0)
    # prompt_response: the prompt is cut from the left to this many tokens before it is
    # embedded, so a long transcript keeps its latest turns (None: embedded as it is).
    prompt_tokens: int | None = Field(default=None, gt=0)
    # prompt_response: also feed prompt ⊙ response (3 × dimensions), so even a linear head
    # sees how well the response matches the prompt (the prompt alone cancels in r_c − r_r).
    interactions: bool = False
    # `finetune`: the transformers config of the sequence classifier.
    transformer_config: dict[str, Any] | None = None

    @property
    def input_dim(self) -> int:
        if self.features != "prompt_response":
            return self.embedding_dim
        return self.embedding_dim * (3 if self.interactions else 2)


class RewardHead(nn.Module):
    """Members scoring the same features (the reward is their mean), and criterion heads."""

    def __init__(self, members: Sequence[nn.Module], criteria: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.criteria = nn.ModuleList(criteria)

    def member_rewards(self, features: torch.Tensor) -> torch.Tensor:
        """(n, members): each member's reward."""
        return torch.cat([member(features) for member in self.members], dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(n, 1): the mean reward of the members."""
        return self.member_rewards(features).mean(dim=-1, keepdim=True)

    def criterion_scores(self, features: torch.Tensor) -> torch.Tensor:
        """(n, criteria): each criterion head's predicted rating, 0..1."""
        if not len(self.criteria):
            return features.new_zeros((features.shape[0], 0))
        return torch.cat([torch.sigmoid(head(features)) for head in self.criteria], dim=-1)


def build_member(config: HeadConfig) -> nn.Module:
    """One untrained scorer over the head's features: one output."""
    if config.kind == "linear":
        return nn.Sequential(nn.Linear(config.input_dim, 1))
    if config.hidden_dim is None:
        raise ScoringError("an mlp head needs hidden_dim")
    if config.format == LEGACY_FORMAT:
        return nn.Sequential(
            nn.Linear(config.input_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, 1),
        )
    return nn.Sequential(
        nn.Linear(config.input_dim, config.hidden_dim),
        nn.ReLU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden_dim, 1),
    )


def build_head(config: HeadConfig) -> RewardHead:
    """An untrained head for `config` (not `finetune`: see workers.ml.training.finetune)."""
    if config.kind == "finetune":
        raise ScoringError("a finetune head is a transformers model, not built here")
    return RewardHead(
        [build_member(config) for _ in range(config.ensemble_size)],
        [build_member(config) for _ in config.criteria],
    )


def head_features(
    config: HeadConfig, prompts: np.ndarray | None, responses: np.ndarray
) -> torch.Tensor:
    """The head's input rows from prompt and response (or context) embeddings."""
    if config.features != "prompt_response":
        return torch.from_numpy(np.ascontiguousarray(responses))
    if prompts is None:
        raise ScoringError("a prompt_response head needs the prompts' embeddings")
    parts = [prompts, responses] + ([prompts * responses] if config.interactions else [])
    return torch.from_numpy(np.concatenate(parts, axis=1))


def context_texts(
    prompts: Sequence[str], responses: Sequence[str], tokenizer: Any, budget: int
) -> list[str]:
    """Each response after the end of its prompt, in at most ~`budget` tokens.

    The response keeps up to 3/4 of the budget (the encoder cuts what is past it); the
    prompt gets the rest, cut from the left at a token boundary so its latest turns
    survive. Deterministic for a tokenizer, so training and scoring see the same text.
    """
    if not prompts:
        return []
    separator = len(tokenizer(CONTEXT_SEPARATOR, add_special_tokens=False)["input_ids"])
    response_ids = tokenizer(list(responses), add_special_tokens=False, verbose=False)["input_ids"]
    encoded = tokenizer(
        list(prompts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    floor = int(budget * MIN_PROMPT_SHARE)
    texts = []
    for prompt, response, ids, offsets in zip(
        prompts, responses, response_ids, encoded["offset_mapping"], strict=True
    ):
        keep = max(floor, budget - separator - len(ids))
        if len(offsets) > keep:
            prompt = "…" + prompt[offsets[len(offsets) - keep][0] :]
        texts.append(f"{prompt}{CONTEXT_SEPARATOR}{response}")
    return texts


def prompt_tails(prompts: Sequence[str], tokenizer: Any, budget: int) -> list[str]:
    """Each prompt cut from the left at a token boundary to at most `budget` tokens."""
    unique = list(dict.fromkeys(prompts))  # a prompt's pairs share it: tokenise it once
    if not unique:
        return []
    encoded = tokenizer(
        unique, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    tails = {
        prompt: (
            "…" + prompt[offsets[len(offsets) - budget][0] :] if len(offsets) > budget else prompt
        )
        for prompt, offsets in zip(unique, encoded["offset_mapping"], strict=True)
    }
    return [tails[prompt] for prompt in prompts]


def save_head(module: nn.Module, config: HeadConfig, directory: Path) -> Path:
    """Write `head.json` and `head.pt` into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    torch.save(state, directory / HEAD_WEIGHTS_FILE)
    (directory / HEAD_CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    return directory


def read_head_config(directory: Path) -> HeadConfig:
    try:
        return HeadConfig.model_validate(json.loads((directory / HEAD_CONFIG_FILE).read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        raise ScoringError(f"cannot load the reward head in {directory}: {exc}") from None


def load_head(directory: Path, *, on: str = "cpu") -> tuple[nn.Module, HeadConfig]:
    """Rebuild a saved head in eval mode on device `on`.

    Embedding heads come back as a `RewardHead` (`module(features)` is the reward);
    a `finetune` head as a `FinetunedReward` (`module.score_texts(texts)`).
    """
    config = read_head_config(directory)
    try:
        state = torch.load(directory / HEAD_WEIGHTS_FILE, map_location=on, weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ScoringError(f"cannot load the reward head in {directory}: {exc}") from None
    if config.kind == "finetune":
        from workers.ml.training.finetune import FinetunedReward

        module: nn.Module = FinetunedReward.from_state(config, state)
    else:
        module = build_head(config)
        if config.format == LEGACY_FORMAT:  # a bare Sequential: it is member 0
            state = {f"members.0.{key}": value for key, value in state.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ScoringError(f"the weights in {directory} do not fit its config: {exc}") from None
    return module.to(on).eval(), config
