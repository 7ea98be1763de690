"""What an annotator sends: one Pydantic model for the page and the API.

`Judgment` checks the shape (types, sizes); `label_submit` checks it against the
comparison, the project's settings and the rubric in force. Ratings and spans name
responses by id, so they mean the same thing whichever side a response was shown on.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_RATIONALE = 5000
MAX_NOTE = 1000
MAX_SPANS = 100
MAX_SECONDS = 24 * 3600


class Choice(StrEnum):
    A = "a"
    B = "b"
    TIE = "tie"
    BOTH_BAD = "both_bad"


class Span(BaseModel):
    """A marked piece of a response: character offsets [start, end) and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response: int = Field(description="Id of the response the span is in.")
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    category: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=MAX_NOTE)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError("end must be greater than start")
        return self


class Judgment(BaseModel):
    """One submitted judgment, before it is checked against its comparison."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    choice: Choice | None = None
    strength: int | None = Field(default=None, ge=0)
    ranking: list[int] = Field(default_factory=list, max_length=10)
    ratings: dict[int, dict[str, int]] = Field(
        default_factory=dict, description="Response id → criterion → rating."
    )
    spans: list[Span] = Field(default_factory=list, max_length=MAX_SPANS)
    rationale: str = Field(default="", max_length=MAX_RATIONALE)
    seconds_spent: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Judgment:
        if self.choice is not None and self.ranking:
            raise ValueError("send either a choice (pairs) or a ranking, not both")
        if self.strength is not None and self.choice not in (Choice.A, Choice.B):
            raise ValueError("strength only goes with choice 'a' or 'b'")
        return self
