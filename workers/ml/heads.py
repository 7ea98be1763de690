"""Reward heads over sentence embeddings: build, save and load one.

A saved head is a folder with two files (names in workers.contracts): `head.json`,
the config below, and `head.pt`, the module's state dict, loaded with
`weights_only=True` so a file can hold tensors and nothing that runs. Training
(the reward-model issue) writes heads with `save_head`; scoring reads them with
`load_head`.

Features: `response` feeds the response's embedding; `prompt_response` the prompt's
and the response's side by side (2 × dimensions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from workers.contracts import HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ScoringError

HEAD_FORMAT = "palate-head/1"


class HeadConfig(BaseModel):
    """What a head is: enough to rebuild the module before loading its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["palate-head/1"] = HEAD_FORMAT
    kind: Literal["linear", "mlp"]
    backbone: str = Field(min_length=1)
    features: Literal["response", "prompt_response"] = "prompt_response"
    embedding_dim: int = Field(gt=0)
    hidden_dim: int | None = Field(default=None, gt=0)

    @property
    def input_dim(self) -> int:
        return self.embedding_dim * (2 if self.features == "prompt_response" else 1)


def build_head(config: HeadConfig) -> nn.Module:
    """An untrained module for `config`: one output, the reward."""
    if config.kind == "linear":
        return nn.Sequential(nn.Linear(config.input_dim, 1))
    if config.hidden_dim is None:
        raise ScoringError("an mlp head needs hidden_dim")
    return nn.Sequential(
        nn.Linear(config.input_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, 1)
    )


def head_features(
    config: HeadConfig, prompts: np.ndarray | None, responses: np.ndarray
) -> torch.Tensor:
    """The head's input rows from prompt and response embeddings."""
    if config.features == "response":
        return torch.from_numpy(np.ascontiguousarray(responses))
    if prompts is None:
        raise ScoringError("a prompt_response head needs the prompts' embeddings")
    return torch.from_numpy(np.concatenate([prompts, responses], axis=1))


def save_head(module: nn.Module, config: HeadConfig, directory: Path) -> Path:
    """Write `head.json` and `head.pt` into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
    torch.save(state, directory / HEAD_WEIGHTS_FILE)
    (directory / HEAD_CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    return directory


def load_head(directory: Path, *, on: str = "cpu") -> tuple[nn.Module, HeadConfig]:
    """Rebuild a saved head in eval mode on device `on`."""
    try:
        config = HeadConfig.model_validate(json.loads((directory / HEAD_CONFIG_FILE).read_text()))
        state = torch.load(directory / HEAD_WEIGHTS_FILE, map_location=on, weights_only=True)
    except (OSError, ValueError, ValidationError) as exc:
        raise ScoringError(f"cannot load the reward head in {directory}: {exc}") from None
    module = build_head(config)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ScoringError(f"the weights in {directory} do not fit its config: {exc}") from None
    return module.to(on).eval(), config
