"""The project's annotation settings: one Pydantic model validates the JSON field."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_STRENGTH_SCALE = ["negligibly better", "slightly better", "clearly better", "much better"]


class AnnotationMode(StrEnum):
    PAIRWISE = "pairwise"
    RANKING = "ranking"


class Pairing(StrEnum):
    """How pairwise comparisons are made from a prompt's responses."""

    ALL_PAIRS = "all_pairs"
    RANDOM_PAIRS = "random_pairs"
    ADJACENT_BY_SCORE = "adjacent_by_score"


class ConsensusRule(StrEnum):
    """Which label a comparison stands for downstream when no reviewer has decided."""

    MAJORITY = "majority"
    DAWID_SKENE = "dawid_skene"


class AnnotationSettings(BaseModel):
    """How a project's comparisons are labelled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: AnnotationMode = AnnotationMode.PAIRWISE
    pairing: Pairing = Field(
        default=Pairing.ALL_PAIRS,
        description="Pairwise mode: every pair, k random pairs per prompt, or neighbours "
        "after sorting the responses by a metadata score.",
    )
    pairs_per_prompt: int = Field(default=3, ge=1, le=100, description="k for random pairs.")
    score_key: str = Field(
        default="score",
        min_length=1,
        max_length=100,
        description="Response metadata key that orders responses for adjacent pairs.",
    )
    overlap: int = Field(default=3, ge=1, le=50, description="Labels wanted per comparison.")
    strength_scale: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STRENGTH_SCALE), min_length=1, max_length=10
    )
    rubric_id: int | None = Field(default=None, description="Rubric whose criteria are rated.")
    rate_criteria: bool = False
    gold_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    lease_minutes: int = Field(default=10, ge=1, le=24 * 60)
    rationale_required: bool = False
    show_reference_to_annotators: bool = Field(
        default=False,
        description="Annotators see the prompt's reference answers, in a panel they open.",
    )
    ranking_size: int = Field(default=4, ge=3, le=10)
    undo_minutes: int = Field(default=5, ge=0, le=60, description="How long a label can be undone.")
    consensus: ConsensusRule = Field(
        default=ConsensusRule.MAJORITY,
        description="Majority vote, or a reliability-weighted vote (Dawid–Skene).",
    )
    gold_pause_below: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Pause an annotator whose gold accuracy falls below this share.",
    )
    gold_min_items: int = Field(
        default=5, ge=1, le=1000, description="Gold items judged before the pause rule applies."
    )

    @field_validator("strength_scale")
    @classmethod
    def _labels_are_distinct(cls, value: list[str]) -> list[str]:
        cleaned = [label.strip() for label in value]
        if any(not label for label in cleaned):
            raise ValueError("strength labels cannot be empty")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("strength labels must be distinct")
        return cleaned


def format_validation_error(error: ValidationError) -> list[str]:
    """Pydantic errors as `field: reason` lines a person can act on."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"{where}: {item['msg']}")
    return lines
