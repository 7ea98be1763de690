"""Frozen dataclasses passed into and out of the ML code, and the ports it talks through.

The web process and tasks build these from rows; `workers.ml` only ever sees them, so
it stays free of Django. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Literal, Protocol

# A saved reward head is a folder (or storage prefix) with these two files:
# the JSON config and the torch state dict (see workers/ml/heads.py).
HEAD_CONFIG_FILE = "head.json"
HEAD_WEIGHTS_FILE = "head.pt"
HEAD_FILES = (HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE)
# The key of a model's per-pair rewards in a training outcome's metrics (and baseline
# metrics): `[comparison id, chosen id, rejected id, r_chosen − r_rejected]` per decided
# validation pair; the app stores them apart from the metrics (TrainingRun.pair_rewards).
PAIR_REWARDS = "pair_rewards"


def text_hash(text: str) -> str:
    """sha256 of a text: the embedding cache's key (with the backbone)."""
    return hashlib.sha256(text.encode()).hexdigest()


def prompt_key(prompt: str) -> str:
    """What groups items by prompt for per-prompt statistics: the prompt text's hash."""
    return hashlib.sha256(b"prompt\0" + prompt.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ScoreItem:
    """One thing to score: the prompt as text, the response, and the reference answer if any."""

    prompt: str
    response: str
    reference: str | None = None

    @property
    def prompt_key(self) -> str:
        return prompt_key(self.prompt)


@dataclass(frozen=True)
class HeadArtifact:
    """Where a reward component's trained head lies on this worker, and its backbone."""

    model_id: int
    directory: str
    backbone: str


@dataclass(frozen=True)
class JudgeCriterion:
    """One rubric criterion as the judge sees it: scored from `low` to `high`."""

    name: str
    description: str
    low: int
    high: int
    weight: float = 1.0


@dataclass(frozen=True)
class HostAllowlist:
    """The hosts a judge may call, as the operator listed them (workers.rewards.endpoints):
    host names, and the addresses or networks that may be loopback, private or link-local."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass(frozen=True)
class JudgeTarget:
    """An OpenAI-compatible chat endpoint and the rubric it scores against.

    `timeout` bounds one request, the whole answer included; `allowed` is checked again
    against the address each connection reaches."""

    url: str
    model: str
    api_key: str
    criteria: tuple[JudgeCriterion, ...]
    allowed: HostAllowlist
    guidelines: str = ""
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubles each time


class EmbeddingStore(Protocol):
    """Where vectors are cached, one per (backbone, text hash), as float32 bytes."""

    def get_many(self, backbone: str, hashes: Sequence[str]) -> dict[str, bytes]: ...

    def put_many(self, backbone: str, vectors: Mapping[str, bytes]) -> None: ...


class MemoryEmbeddingStore:
    """An in-process EmbeddingStore, for scripts and the benchmark's raw baseline."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], bytes] = {}

    def get_many(self, backbone: str, hashes: Sequence[str]) -> dict[str, bytes]:
        found = ((h, self.vectors.get((backbone, h))) for h in hashes)
        return {h: v for h, v in found if v is not None}

    def put_many(self, backbone: str, vectors: Mapping[str, bytes]) -> None:
        for h, vector in vectors.items():
            self.vectors.setdefault((backbone, h), vector)


@dataclass(frozen=True)
class ScoringResources:
    """What components need besides their spec, resolved from rows by the task."""

    heads: Mapping[str, HeadArtifact] = field(default_factory=dict)  # by component name
    judges: Mapping[str, JudgeTarget] = field(default_factory=dict)  # by component name
    embedding_store: EmbeddingStore | None = None
    batch_size: int = 128
    item_seconds: float = 5.0  # each text component's time on one item (SCORE_ITEM_SECONDS)
    # Epoch seconds after which nobody waits for the answer (a synchronous request's
    # SCORE_TIMEOUT_SECONDS): text components stop there rather than go on for nobody.
    deadline: float | None = None


class ScoringError(ValueError):
    """A component cannot score with what it was given (a missing head, an unknown backbone)."""


class DeadlinePassed(Exception):
    """A synchronous request's caller stopped waiting (ScoringResources.deadline)."""


# Training reward models (issue 8): what the Celery task hands to
# workers.ml.training.train_reward_model, and what it gets back.

Turns = tuple[tuple[str, str], ...]  # (role, content); a plain prompt is (("user", text),)


def prompt_as_text(turns: Turns) -> str:
    """A prompt's turns as one string, exactly as `Prompt.text` renders it for scoring:
    a plain prompt (one user turn) is its text; a transcript joins `role: content` turns."""
    if len(turns) == 1 and turns[0][0] == "user":
        return turns[0][1]
    return "\n\n".join(f"{role}: {content}" for role, content in turns)


@dataclass(frozen=True)
class TrainingPair:
    """One human preference, as training sees it."""

    pair_id: int  # the label (or consensus comparison) id, for reports
    prompt_id: int  # the split key: a prompt is never in two splits
    prompt: Turns
    chosen: str
    rejected: str
    split: Literal["train", "validation"]
    target: float = 1.0  # P(chosen preferred): 1.0, 0.5 for a kept tie, or a soft label
    strength: int | None = None  # index on the project's strength scale
    agreement: float | None = None  # share of annotators agreeing with the consensus
    # The responses' ids, so that a model's reward on each validation pair can be stored
    # and two models compared on the pairs both held out (None outside the app).
    chosen_id: int | None = None
    rejected_id: int | None = None


@dataclass(frozen=True)
class RatedResponse:
    """A response with per-criterion mean ratings (per-criterion regression heads)."""

    prompt_id: int
    prompt: Turns
    response: str
    split: Literal["train", "validation"]
    ratings: Mapping[str, float]  # criterion name -> mean rating, scaled to 0..1


@dataclass(frozen=True)
class TrainingProgress:
    """Where a training run is; `fraction` covers the whole run, 0..1."""

    stage: str  # "embedding" | "training" | "evaluating"
    fraction: float
    epoch: int | None = None
    train_loss: float | None = None
    validation_loss: float | None = None
    message: str = ""


@dataclass(frozen=True)
class TrainingOutcome:
    """A finished run: the saved head's folder and files, and its metrics on validation."""

    head_directory: str  # a folder with HEAD_FILES (+ any extra files listed in `files`)
    files: tuple[str, ...]  # every file name in head_directory to copy to storage
    head_kind: str  # "linear" | "mlp" | "ensemble" | "finetune"
    backbone: str
    metrics: Mapping[str, object]  # JSON-able; keys in workers.ml.training.metrics
    baseline_metrics: Mapping[str, object] | None  # the same for `baseline_head`, same split
    history: tuple[Mapping[str, float], ...]  # per epoch: epoch, train_loss, validation_loss


class TrainingCancelled(Exception):
    """`should_stop` said stop: the run ends without a head."""
