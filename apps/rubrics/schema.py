"""Rubric criteria and error categories: one Pydantic model validates them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = 1
    max: int = 5
    labels: dict[str, str] = Field(default_factory=dict, description="Point → meaning.")

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError("max must be greater than min")
        for point in self.labels:
            if not point.lstrip("-").isdigit() or not self.min <= int(point) <= self.max:
                raise ValueError(f"label key {point!r} is not a point of the scale")
        return self


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    scale: Scale = Field(default_factory=Scale)
    weight: float = Field(default=1.0, ge=0)


class ErrorCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = ""


class RubricSpec(BaseModel):
    """What a rubric version says: criteria to rate and categories for span feedback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    criteria: list[Criterion] = Field(default_factory=list)
    error_categories: list[ErrorCategory] = Field(default_factory=list)

    @field_validator("criteria", "error_categories")
    @classmethod
    def _unique_names(cls, items: list[Criterion] | list[ErrorCategory]):  # type: ignore[no-untyped-def]
        names = [item.name for item in items]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"names must be unique; repeated: {', '.join(duplicates)}")
        return items
