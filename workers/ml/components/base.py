"""What every reward component shares, and the context they score in."""

from __future__ import annotations

import logging
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from workers.contracts import DeadlinePassed, ScoreItem, ScoringResources
from workers.ml.embeddings import Embedder, load_encoder

logger = logging.getLogger(__name__)

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


class ItemTimeout(BaseException):
    """One item took longer than its time budget (a BaseException, so that no library's
    `except Exception` swallows it)."""


class _Alarm:
    """A per-item time limit on SIGALRM, armed around one item at a time.

    It works in the main thread of a process with SIGALRM, which is where Celery's solo
    and prefork pools (and the embedded worker, a solo pool) run tasks; elsewhere (a
    threads pool, a script's thread) `usable` is False and items run without the limit.
    The handler raises only while armed, so a signal handled just after an item finished
    cannot escape into the caller."""

    def __init__(self) -> None:
        self.armed = False
        self.usable = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            raise ItemTimeout

    @contextmanager
    def installed(self) -> Iterator[None]:
        if not self.usable:
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._expire)
        try:
            yield
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def arm(self, seconds: float) -> None:
        if self.usable:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(self) -> None:
        if self.usable:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)


class ItemComponent(Component[Params]):
    """A component that scores each item on its own, each within the per-item time budget.

    An item that takes longer than `ScoringResources.item_seconds` is interrupted and its
    value is missing (None), like a judge that failed, and the component logs how many
    items ran out of time. The alarm interrupts Python code; a call into C code (RE2,
    json, rapidfuzz) is interrupted only when it returns, which is why those must be
    linear in the text. Past `ScoringResources.deadline` (nobody waits for the answer any
    more) it raises DeadlinePassed before the next item, so a request the endpoint gave up
    on holds the worker for at most one more item.
    """

    @abstractmethod
    def score_one(self, item: ScoreItem) -> float | None: ...

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        seconds = self.context.resources.item_seconds
        deadline = self.context.resources.deadline
        alarm = _Alarm()
        out: list[float | None] = []
        late = 0
        with alarm.installed():
            for item in items:
                if deadline is not None and time.time() >= deadline:
                    raise DeadlinePassed(
                        f"{self.name}: the request's caller stopped waiting after "
                        f"{len(out)} of {len(items)} items"
                    )
                try:
                    alarm.arm(seconds)
                    value = self.score_one(item)
                    alarm.disarm()
                except ItemTimeout:
                    value = None
                    late += 1
                out.append(value)
        if late:
            logger.warning(
                "%s: %s of %s items ran past the budget of %s s per item; their values "
                "are missing",
                self.name, late, len(items), seconds,
            )  # fmt: skip
        return out
