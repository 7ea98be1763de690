"""What one row of an import file may say, and what it becomes.

Rows are told apart by their columns, one declaration for all (`ROW_SHAPES`, first match
wins): the published datasets' pairs (`apps.imports.published`: SHP, HelpSteer2/3), then
  - preference pairs as TRL writes them: `{"prompt"?, "chosen", "rejected"}`, standard
    (strings) or conversational (lists of `{role, content}`), with an implicit prompt
    (HH-RLHF transcripts, chats) or UltraFeedback's full chats beside an explicit one;
    `"gold": true` makes the pair a gold item whose known answer is `chosen`;
  - `{"prompt", "responses": [{"text", "model", ...}], "reference"?, "metadata"?, "group"?}`;
  - one response per row: `{"prompt", "response" | "completion", "model"?, ...}` (TRL's
    prompt-completion and unpaired preference, HelpSteer2's rated responses); rows of one
    prompt merge into it.
TRL's stepwise-supervision and language-modeling rows have no response to judge: refused
with a reason. Validation is Pydantic; every problem becomes a `RowError` that names the row
and field. No Django here: the writer in services.py turns records into rows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from apps.core.json_limits import json_problem
from apps.imports.published import PUBLISHED_SHAPES
from apps.imports.records import (
    HH_ASSISTANT,
    ROLES,
    Conversation,
    PairRecord,
    PromptRecord,
    Record,
    ResponseRecord,
    RowError,
    RowShape,
    conversation,
    errors_from,
    hh_answer,
    jsonable,
    prompt_input,
    response_text,
)

__all__ = [
    "ROLES",
    "ROW_SHAPES",
    "PairRecord",
    "PromptRecord",
    "Record",
    "ResponseRecord",
    "RowError",
    "parse_row",
    "row_shape",
    "shapes_read",
]

# Where a plain-text transcript hands over to the model, latest first wins.
ASSISTANT_MARKERS = (HH_ASSISTANT, "\nAssistant:", "<|im_start|>assistant\n", "<|assistant|>")
# Columns of a pair row about its prompt (UltraFeedback's id): prompt metadata.
_PROMPT_COLUMNS = ("prompt_id",)
# Copies of `chosen` (UltraFeedback's `messages`): nothing is lost when they are left out.
_COPIES_OF_CHOSEN = ("messages",)
_SIDES = ("chosen", "rejected")


class _ResponseIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    # An empty answer is data (a model that said nothing), as in HH-RLHF's test files.
    text: str
    model: str = ""
    sampling_params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def record(self) -> ResponseRecord:
        # Keys beyond the known ones (score, id, …) are kept as metadata.
        metadata = {**(self.model_extra or {}), **self.metadata}
        return ResponseRecord(
            self.text, self.model, jsonable(self.sampling_params), jsonable(metadata)
        )


class _PromptFieldsIn(BaseModel):
    """What any prompt row says about its prompt."""

    model_config = ConfigDict(extra="allow")

    prompt: Any
    reference: str | list[str] | None = None
    references: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    group: str | int | None = None

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: Any) -> Conversation:
        return conversation(value)

    def prompt_record(
        self, row: int, responses: tuple[ResponseRecord, ...], extra: Mapping[str, Any]
    ) -> PromptRecord:
        stored, kept = prompt_input(self.prompt)
        refs: list[str] = []
        if isinstance(self.reference, str):
            refs.append(self.reference)
        elif isinstance(self.reference, list):
            refs.extend(self.reference)
        refs.extend(self.references or [])
        return PromptRecord(
            row=row,
            input=stored,
            references=[ref for ref in refs if ref.strip()],
            metadata=jsonable({**kept, **extra, **self.metadata}),
            group="" if self.group is None else str(self.group),
            responses=responses,
        )


class _PromptRowIn(_PromptFieldsIn):
    responses: list[_ResponseIn] = Field(min_length=1)


class _ResponseRowIn(_PromptFieldsIn):
    """One response per row; its other columns (ratings, TRL's `label`) are its metadata."""

    response: Any = None
    completion: Any = None
    model: str = ""
    sampling_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("response", "completion")
    @classmethod
    def _check_answer(cls, value: Any) -> str | None:
        # An empty answer is data; TRL's conversational completion is the assistant's messages.
        if value is None or isinstance(value, str):
            return value
        return response_text(conversation(value))


class _PairRowIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt: Any = None
    chosen: Any
    rejected: Any
    metadata: dict[str, Any] = Field(default_factory=dict)
    group: str | int | None = None
    gold: bool = False

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: Any) -> Conversation | None:
        return None if value is None else conversation(value)

    @field_validator("chosen", "rejected")
    @classmethod
    def _check_side(cls, value: Any) -> Conversation:
        # A side may be an empty answer; with no `prompt`, the transcript still has to hold one.
        return value if isinstance(value, str) else conversation(value)


def _split_implicit_prompt(
    chosen: Conversation, rejected: Conversation
) -> tuple[Conversation, str, str]:
    """Cut the shared leading part of chosen and rejected at the last turn boundary."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        if len(chosen) < 2 or chosen[:-1] != rejected[:-1] or len(rejected) != len(chosen):
            raise ValueError(
                "without a `prompt`, chosen and rejected must be chats that share every "
                "message but the last"
            )
        if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            raise ValueError(
                "without a `prompt`, the last message of each side must be the assistant's"
            )
        return chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        shared = os.path.commonprefix([chosen, rejected])
        cut, marker = max(
            (
                (shared.rfind(marker) + len(marker), marker)
                for marker in ASSISTANT_MARKERS
                if marker in shared
            ),
            default=(-1, ""),
        )
        if cut <= 0:
            raise ValueError(
                "without a `prompt`, chosen and rejected must share a transcript that ends "
                "at an assistant turn (e.g. '\\n\\nHuman: …\\n\\nAssistant:')"
            )
        # The answers as written, but for the space a `…Assistant:` marker is followed by.
        if marker.endswith(":"):
            return chosen[:cut], hh_answer(chosen[cut:]), hh_answer(rejected[cut:])
        return chosen[:cut], chosen[cut:], rejected[cut:]
    raise ValueError("chosen and rejected must both be strings or both be chat lists")


def _answer(side: Conversation, prompt: Conversation) -> str:
    """A side's answer when the prompt is given: a chat that repeats the prompt first (as
    UltraFeedback's do) answers with the messages after it."""
    if isinstance(side, list):
        asked = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        if len(side) > len(asked) and side[: len(asked)] == asked:
            side = side[len(asked) :]
    return response_text(side)


def _side_metadata(extra: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Columns about one side (`score_chosen`, `chosen_model`, …) as that response's
    metadata (`score`, `model`), and the rest."""
    sides: dict[str, dict[str, Any]] = {side: {} for side in _SIDES}
    rest = {}
    for key, value in extra.items():
        for side in _SIDES:
            if key.endswith(f"_{side}"):
                sides[side][key.removesuffix(f"_{side}")] = value
                break
            if key.startswith(f"{side}_"):
                sides[side][key.removeprefix(f"{side}_")] = value
                break
        else:
            rest[key] = value
    return sides, rest


def _parse_pair(row: int, data: dict[str, Any]) -> PairRecord | list[RowError]:
    try:
        parsed = _PairRowIn.model_validate(data)
    except ValidationError as exc:
        return errors_from(row, exc)
    if parsed.prompt is None:
        try:
            prompt, chosen_text, rejected_text = _split_implicit_prompt(
                parsed.chosen, parsed.rejected
            )
        except ValueError as exc:
            return [RowError(row, "chosen", str(exc))]
    else:
        prompt = parsed.prompt
        chosen_text = _answer(parsed.chosen, prompt)
        rejected_text = _answer(parsed.rejected, prompt)
    if chosen_text == rejected_text:
        return [RowError(row, "rejected", "is the same response as chosen")]
    extra = dict(parsed.model_extra or {})
    for column in _COPIES_OF_CHOSEN:
        if column in extra and extra[column] == data["chosen"]:
            del extra[column]
    about_prompt = {column: extra.pop(column) for column in _PROMPT_COLUMNS if column in extra}
    sides, rest = _side_metadata(extra)
    stored, kept = prompt_input(prompt)
    return PairRecord(
        row=row,
        prompt=PromptRecord(
            row=row,
            input=stored,
            metadata=jsonable({**kept, **about_prompt, **parsed.metadata}),
            group="" if parsed.group is None else str(parsed.group),
        ),
        chosen=ResponseRecord(chosen_text, metadata=jsonable(sides["chosen"])),
        rejected=ResponseRecord(rejected_text, metadata=jsonable(sides["rejected"])),
        label_metadata=jsonable(rest),
        is_gold=parsed.gold,
    )


def _parse_prompt(row: int, data: dict[str, Any]) -> PromptRecord | list[RowError]:
    try:
        parsed = _PromptRowIn.model_validate(data)
    except ValidationError as exc:
        return errors_from(row, exc)
    texts = [response.text for response in parsed.responses]
    if len(set(texts)) != len(texts):
        first_repeat = next(i for i, text in enumerate(texts) if texts.index(text) != i)
        return [RowError(row, f"responses.{first_repeat}.text", "repeats an earlier response")]
    responses = tuple(response.record() for response in parsed.responses)
    return parsed.prompt_record(row, responses, parsed.model_extra or {})


def _parse_response(row: int, data: dict[str, Any]) -> PromptRecord | list[RowError]:
    try:
        parsed = _ResponseRowIn.model_validate(data)
    except ValidationError as exc:
        return errors_from(row, exc)
    if parsed.response is not None and parsed.completion is not None:
        return [RowError(row, "completion", "give `response` or `completion`, not both")]
    text = parsed.response if parsed.response is not None else parsed.completion
    assert text is not None  # the shape is announced by one of them
    response = ResponseRecord(
        text,
        parsed.model,
        jsonable(parsed.sampling_params),
        jsonable(dict(parsed.model_extra or {})),
    )
    return parsed.prompt_record(row, (response,), {})


ROW_SHAPES: tuple[RowShape, ...] = (
    *PUBLISHED_SHAPES,
    RowShape("TRL preference pairs (HH-RLHF, UltraFeedback)", frozenset(_SIDES), _parse_pair),
    RowShape("prompts with responses", frozenset({"responses"}), _parse_prompt),
    RowShape(
        "one response per row (TRL prompt-completion and unpaired preference, HelpSteer2)",
        frozenset({"response", "completion"}),
        _parse_response,
    ),
    RowShape(
        "TRL stepwise supervision",
        frozenset({"completions"}),
        refusal="TRL's stepwise supervision rows (`prompt`, `completions`, `labels`) judge steps "
        "of one answer, not responses: not supported. Write each full answer as a `response`",
    ),
    RowShape(
        "TRL language modeling",
        frozenset({"text", "messages"}),
        refusal="a TRL language-modeling row (`text` or `messages`) has no prompt and response "
        "to judge: not supported. Write `prompt` with `response`, or `chosen` and `rejected`",
    ),
)
_NO_SHAPE = (
    "expected `prompt` with `responses` or a `response`, or `chosen` and `rejected` "
    "(a TRL pair), or a published pair (SHP, HelpSteer2, HelpSteer3); a TRL prompt-only row "
    "has nothing to judge"
)


def shapes_read() -> str:
    """The shapes an import reads, in words."""
    return "; ".join(shape.name for shape in ROW_SHAPES if shape.parse is not None)


def row_shape(columns: Mapping[str, Any]) -> RowShape | None:
    """The first shape announced by the row's columns."""
    return next((shape for shape in ROW_SHAPES if not shape.columns.isdisjoint(columns)), None)


def parse_row(row: int, data: Any) -> Record | list[RowError]:
    """One raw row (already decoded from JSON/CSV/Parquet) → a record, or its errors."""
    if not isinstance(data, dict):
        return [RowError(row, "", f"expected an object, got {type(data).__name__}")]
    if problem := json_problem(data):  # too deep, or a NUL that PostgreSQL cannot store
        return [RowError(row, problem.path, problem.reason)]
    data = {key: value for key, value in data.items() if value is not None}
    shape = row_shape(data)
    if shape is None:
        return [RowError(row, "", _NO_SHAPE)]
    if shape.parse is None:
        return [RowError(row, "", shape.refusal)]
    return shape.parse(row, data)
