"""What an export contains: one Pydantic model validates the filters and settings."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Handling = Literal["exclude", "write"]
PromptForm = Literal["auto", "standard", "conversational"]
MetadataValue = str | int | float | bool


class ExportOptions(BaseModel):
    """Filters and settings of one export, stored as JSON on the Export row.

    Literal types rather than enums keep the JSON schema flat: the API publishes it
    as is in the OpenAPI document.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_agreement: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Keep only items whose labels agree with the consensus at least this often "
        "(share of current labels that voted for it).",
    )
    min_gold_accuracy: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Leave out every label of annotators whose accuracy on gold items is below "
        "this. Annotators with no gold labels are kept.",
    )
    labelled_from: date | None = Field(
        default=None, description="Only labels made on or after this day."
    )
    labelled_to: date | None = Field(
        default=None, description="Only labels made on or before this day."
    )
    prompt_group: str | None = Field(
        default=None, max_length=200, description="Only prompts in this group."
    )
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict,
        max_length=20,
        description="Only prompts whose metadata has each of these key=value pairs.",
    )
    test_share: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Share of prompts put in a test split (0: one file). Split by prompt.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the split.")
    ties: Handling = Field(
        default="exclude", description="trl-preference: leave out or write pairs judged a tie."
    )
    both_bad: Handling = Field(
        default="exclude", description="trl-preference: leave out or write pairs judged both bad."
    )
    margin: bool = Field(
        default=False, description="trl-preference: add a `margin` column from the strength."
    )
    soft_label: bool = Field(
        default=False,
        description="trl-preference: add a `p_chosen` column, the consensus probability that "
        "the chosen response is preferred (vote shares, or Dawid–Skene's posterior; 1 or 0.5 "
        "for a reviewer's decision).",
    )
    prompt_form: PromptForm = Field(
        default="auto",
        description="`standard`: prompts as strings; `conversational`: as message lists; "
        "`auto`: conversational when the project has chat prompts.",
    )
    pseudonymise_annotators: bool = Field(
        default=True,
        description="Replace annotator names with a keyed hash (only an admin may turn it off).",
    )
    reward_version_id: int | None = Field(
        default=None, description="rewards: the reward function version whose scores to write."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExportOptions:
        if self.labelled_from and self.labelled_to and self.labelled_from > self.labelled_to:
            raise ValueError("labelled_from must not be after labelled_to")
        return self

    def filters_applied(self, export_format: str) -> list[str]:
        """The filters in force for this format, in words, for the data card."""
        lines = []
        uses_labels = export_format != "rewards"
        if self.min_agreement is not None and export_format in ("trl-preference", "labels-raw"):
            lines.append(f"items with agreement ≥ {self.min_agreement:g}")
        if self.min_gold_accuracy is not None and uses_labels:
            lines.append(
                f"labels of annotators with gold accuracy ≥ {self.min_gold_accuracy:g} "
                "(annotators without gold labels kept)"
            )
        if self.labelled_from and uses_labels:
            lines.append(f"labels made on or after {self.labelled_from.isoformat()}")
        if self.labelled_to and uses_labels:
            lines.append(f"labels made on or before {self.labelled_to.isoformat()}")
        if self.prompt_group is not None:
            lines.append(f"prompts in group {self.prompt_group!r}")
        lines.extend(
            f"prompts with metadata {key}={value!r}" for key, value in self.metadata.items()
        )
        return lines
