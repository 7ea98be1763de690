"""Published preference datasets whose pairs are not TRL's: each declared by its columns.

A pair format names the column of the prompt, of its two responses and of the verdict
between them (and how to read it); the columns about the prompt become prompt metadata,
those about one response (`score_A`, …) that response's metadata, and every other column,
the verdict included, the imported label's metadata: nothing in the row is lost. The
preferred response becomes `chosen` of an imported label; a verdict of "about the same"
is an imported `tie`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from apps.imports.records import (
    PairRecord,
    PromptRecord,
    ResponseRecord,
    RowError,
    RowShape,
    conversation,
    jsonable,
    prompt_input,
)

Verdict = Literal["first", "second", "tie"]
_INTEGER = re.compile(r"-?\d+")


def _integer(value: Any) -> int | None:
    """An integer as JSON, Parquet or a CSV cell gives it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def _shp_verdict(value: int) -> Verdict | None:
    return {1: "first", 0: "second"}.get(value)


def _likert_verdict(value: int) -> Verdict | None:
    """HelpSteer's -3 … 3: below 0 the first response is better, above 0 the second."""
    if not -3 <= value <= 3:
        return None
    return "first" if value < 0 else "second" if value > 0 else "tie"


@dataclass(frozen=True, slots=True)
class PairFormat:
    name: str
    prompt: str
    first: str
    second: str
    verdict: str
    decide: Callable[[int], Verdict | None]
    verdict_values: str  # what the verdict may be, in words, for the row error
    prompt_columns: tuple[str, ...] = ()
    # metadata key: (its column for the first response, for the second)
    response_columns: tuple[tuple[str, tuple[str, str]], ...] = ()

    def shape(self) -> RowShape:
        return RowShape(self.name, frozenset({self.first, self.second}), self.parse)

    def _about_response(self, data: dict[str, Any], side: int) -> dict[str, Any]:
        return {
            key: data[columns[side]]
            for key, columns in self.response_columns
            if columns[side] in data
        }

    def parse(self, row: int, data: dict[str, Any]) -> PairRecord | list[RowError]:
        errors: list[RowError] = []
        prompt = None
        if self.prompt not in data:
            errors.append(RowError(row, self.prompt, "Field required"))
        else:
            try:
                prompt = conversation(data[self.prompt])
            except ValueError as exc:
                errors.append(RowError(row, self.prompt, str(exc)))
        for column in (self.first, self.second):
            if column not in data:
                errors.append(RowError(row, column, "Field required"))
            elif not isinstance(data[column], str):
                errors.append(RowError(row, column, "must be a string"))
        verdict: Verdict | None = None
        if self.verdict not in data:
            errors.append(RowError(row, self.verdict, "Field required"))
        else:
            value = _integer(data[self.verdict])
            verdict = None if value is None else self.decide(value)
            if verdict is None:
                errors.append(RowError(row, self.verdict, f"must be {self.verdict_values}"))
        if errors:
            return errors
        assert prompt is not None
        assert verdict is not None
        first, second = data[self.first], data[self.second]
        if first == second:
            return [RowError(row, self.second, f"is the same response as {self.first}")]
        stored, kept = prompt_input(prompt)
        about_prompt = {column: data[column] for column in self.prompt_columns if column in data}
        responses = [
            ResponseRecord(text, metadata=jsonable(self._about_response(data, side)))
            for side, text in enumerate((first, second))
        ]
        used = {self.prompt, self.first, self.second, *self.prompt_columns}
        used.update(column for _, columns in self.response_columns for column in columns)
        chosen, rejected = responses if verdict != "second" else responses[::-1]
        return PairRecord(
            row=row,
            prompt=PromptRecord(row=row, input=stored, metadata=jsonable({**kept, **about_prompt})),
            chosen=chosen,
            rejected=rejected,
            label_metadata=jsonable({key: v for key, v in data.items() if key not in used}),
            is_tie=verdict == "tie",
        )


# Stanford Human Preferences: a Reddit post and two top-level comments.
SHP = PairFormat(
    name="SHP",
    prompt="history",
    first="human_ref_A",
    second="human_ref_B",
    verdict="labels",
    decide=_shp_verdict,
    verdict_values="1 (human_ref_A preferred) or 0 (human_ref_B preferred)",
    prompt_columns=("post_id", "domain", "upvote_ratio"),
    response_columns=(
        ("c_root_id", ("c_root_id_A", "c_root_id_B")),
        ("created_at_utc", ("created_at_utc_A", "created_at_utc_B")),
        ("score", ("score_A", "score_B")),
    ),
)
_LIKERT = "an integer from -3 (the first response much better) to 3 (the second much better)"
# nvidia/HelpSteer3 `preference`: a chat context, two responses, -3 … 3.
HELPSTEER3 = PairFormat(
    name="HelpSteer3 preferences",
    prompt="context",
    first="response1",
    second="response2",
    verdict="overall_preference",
    decide=_likert_verdict,
    verdict_values=_LIKERT,
    prompt_columns=("domain", "language"),
)
# nvidia/HelpSteer2 `preference/preference.jsonl.gz`: a prompt, two responses, -3 … 3.
HELPSTEER2 = PairFormat(
    name="HelpSteer2 preferences",
    prompt="prompt",
    first="response_1",
    second="response_2",
    verdict="preference_strength",
    decide=_likert_verdict,
    verdict_values=_LIKERT,
)

PUBLISHED_SHAPES = tuple(f.shape() for f in (SHP, HELPSTEER3, HELPSTEER2))
