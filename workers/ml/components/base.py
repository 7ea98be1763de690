"""What every reward component shares, and the context they score in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from workers.contracts import ScoreItem, ScoringResources
from workers.ml.embeddings import Embedder, load_encoder

Params = TypeVar("Params", bound=BaseModel)


class ScoringContext:
    """Resources for one scoring engine: resolved rows, and one embedder per backbone."""

    def __init__(self, resources: ScoringResources | None = None) -> None:
        self.resources = resources or ScoringResources()
        self._embedders: dict[str, Embedder] = {}

    def embedder(self, backbone: str) -> Embedder:
        if backbone not in self._embedders:
            self._embedders[backbone] = Embedder(
                load_encoder(backbone),
                self.resources.embedding_store,
                batch_size=self.resources.batch_size,
            )
        return self._embedders[backbone]

    def clear(self) -> None:
        """Drop vectors held in memory between batches (the store keeps them)."""
        for embedder in self._embedders.values():
            embedder.clear()


class Component(ABC, Generic[Params]):
    """One named part of a reward: validated parameters and a batch `score`.

    `score` returns one value per item, None where the value is missing (no
    reference answer, a judge that failed) — never a made-up 0.
    """

    kind: ClassVar[str]

    def __init__(self, params: Params, context: ScoringContext) -> None:
        self.params = params
        self.context = context

    @property
    def name(self) -> str:
        return str(self.params.name)  # type: ignore[attr-defined]

    def texts_to_embed(self, items: Sequence[ScoreItem]) -> dict[str, list[str]]:
        """Texts this component will embed, by backbone, so they are encoded together."""
        return {}

    @abstractmethod
    def score(self, items: Sequence[ScoreItem]) -> list[float | None]: ...
