"""Checking a run's pairs and turning them into the texts a head's features are made of."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from workers.contracts import (
    RatedResponse,
    TrainingCancelled,
    TrainingPair,
    TrainingProgress,
    prompt_as_text,
)
from workers.ml.embeddings import Embedder
from workers.ml.heads import context_texts, prompt_tails
from workers.training.settings import Features, TrainingSettings

EMBED_CHUNK = 2048  # texts per encoder call: progress and cancellation between chunks
POLL_SECONDS = 0.25  # how often training asks `should_stop` (it may read the database)


class StopPoll:
    """`should_stop`, asked at most every POLL_SECONDS (training polls it every batch);
    once it said stop, it stays stopped. `now()` asks it straight away."""

    def __init__(self, should_stop: Callable[[], bool], seconds: float = POLL_SECONDS) -> None:
        self.should_stop = should_stop
        self.seconds = seconds
        self.asked = -math.inf
        self.stopped = False

    def __call__(self) -> bool:
        if not self.stopped and time.monotonic() - self.asked >= self.seconds:
            self.asked = time.monotonic()
            self.stopped = bool(self.should_stop())
        return self.stopped

    def now(self) -> bool:
        self.asked = -math.inf
        return self()


def stop_now(should_stop: Callable[[], bool]) -> bool:
    """Ask `should_stop` without waiting for the poll interval (before saving a head)."""
    return should_stop.now() if isinstance(should_stop, StopPoll) else should_stop()


def checked_pairs(
    pairs: Sequence[TrainingPair], settings: TrainingSettings
) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """The train and validation pairs to use; ValueError says what makes the input unusable."""
    for pair in pairs:
        if not 0.0 <= pair.target <= 1.0:
            raise ValueError(f"pair {pair.pair_id}: target {pair.target} is not within 0..1")
        if pair.split not in ("train", "validation"):
            raise ValueError(f"pair {pair.pair_id}: unknown split {pair.split!r}")
    prompts = {
        split: {p.prompt_id for p in pairs if p.split == split} for split in ("train", "validation")
    }
    leaked = sorted(prompts["train"] & prompts["validation"])
    if leaked:
        shown = ", ".join(str(prompt_id) for prompt_id in leaked[:10])
        raise ValueError(
            f"{len(leaked)} prompt(s) are in both the train and the validation split "
            f"(prompt ids {shown}): split by prompt so validation measures unseen prompts"
        )
    kept = [p for p in pairs if not (settings.ties == "drop" and p.target == 0.5)]
    train = [p for p in kept if p.split == "train"]
    validation = [p for p in kept if p.split == "validation"]
    if not train:
        raise ValueError("there are no training pairs: label some comparisons first")
    if sum(1 for p in validation if p.target != 0.5) < 2:
        raise ValueError(
            f"the validation split has {len(validation)} usable pair(s); at least 2 with a "
            "preferred side are needed to measure the model"
        )
    return train, validation


def checked_rated(
    rated: Sequence[RatedResponse],
) -> tuple[list[RatedResponse], list[RatedResponse], tuple[str, ...]]:
    """Rated responses by split, and the criteria names they rate (sorted)."""
    for item in rated:
        for name, value in item.ratings.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"rating {value} of {name!r} is not scaled to 0..1")
    criteria = tuple(sorted({name for item in rated for name in item.ratings}))
    train = [r for r in rated if r.split == "train"]
    validation = [r for r in rated if r.split == "validation"]
    return train, validation, criteria


@dataclass(frozen=True)
class FeatureTexts:
    """What to embed for a list of (prompt, response): one or two texts per response."""

    responses: list[str]  # the response, or its context text
    prompts: list[str] | None  # the prompt texts (prompt_response only)


def feature_texts(
    features: Features, prompts: Sequence[str], responses: Sequence[str], embedder: Embedder
) -> FeatureTexts:
    if features == "context_response":
        encoder = embedder.encoder
        texts = context_texts(prompts, responses, encoder.model.tokenizer, encoder.context_tokens)
        return FeatureTexts(texts, None)
    if features == "prompt_response":
        encoder = embedder.encoder
        tails = prompt_tails(prompts, encoder.model.tokenizer, encoder.context_tokens)
        return FeatureTexts(list(responses), tails)
    return FeatureTexts(list(responses), None)


def embed_all(
    texts: Sequence[str],
    embedder: Embedder,
    *,
    on_progress: Callable[[TrainingProgress], None],
    should_stop: Callable[[], bool],
    span: tuple[float, float],
) -> None:
    """Prefetch every text's vector (cache first), in chunks, reporting progress."""
    unique = list(dict.fromkeys(texts))
    low, high = span
    for start in range(0, len(unique), EMBED_CHUNK):
        if should_stop():
            raise TrainingCancelled("cancelled while embedding")
        embedder.prefetch(unique[start : start + EMBED_CHUNK])
        done = min(start + EMBED_CHUNK, len(unique))
        on_progress(
            TrainingProgress(
                stage="embedding",
                fraction=low + (high - low) * done / max(len(unique), 1),
                message=f"embedded {done} of {len(unique)} texts",
            )
        )


def stack_features(
    texts: FeatureTexts, embedder: Embedder, *, interactions: bool = False
) -> np.ndarray:
    """The head's input rows (float32) for texts already prefetched."""
    responses = embedder.embed(texts.responses)
    if texts.prompts is None:
        return responses
    prompts = embedder.embed(texts.prompts)
    if not interactions:
        return np.concatenate([prompts, responses], axis=1)
    return np.concatenate([prompts, responses, prompts * responses], axis=1)


def pair_texts(pairs: Sequence[TrainingPair]) -> tuple[list[str], list[str], list[str]]:
    """Prompt texts (as scoring renders them), chosen and rejected responses."""
    return (
        [prompt_as_text(p.prompt) for p in pairs],
        [p.chosen for p in pairs],
        [p.rejected for p in pairs],
    )
