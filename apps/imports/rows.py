"""What one row of an import file may say, and what it becomes.

Two shapes, told apart per row:
  (a) `{"prompt", "responses": [{"text", "model", ...}], "reference"?, "metadata"?, "group"?}`
  (b) preference pairs as TRL writes them: `{"prompt"?, "chosen", "rejected"}`, standard
      (strings) or conversational (lists of `{role, content}`); `"gold": true` makes the
      pair a gold item whose known answer is `chosen`.
Validation is Pydantic; every problem becomes a `RowError` that names the row and field.
No Django here: the writer in services.py turns records into rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from apps.core.json_limits import json_problem
from apps.prompts.hashing import prompt_hash, response_hash

ROLES = ("system", "developer", "user", "assistant", "tool")
# Where a plain-text transcript hands over to the model, latest first wins.
ASSISTANT_MARKERS = ("\n\nAssistant:", "\nAssistant:", "<|im_start|>assistant\n", "<|assistant|>")

Conversation = str | list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row else []
        if self.field:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    text: str
    model: str = ""
    sampling_params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", response_hash(self.text))


@dataclass(frozen=True, slots=True)
class PromptRecord:
    row: int
    input: Conversation
    references: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    responses: tuple[ResponseRecord, ...] = ()
    # Computed once: the writer looks prompts up by it more than once.
    content_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", prompt_hash(self.input))


@dataclass(frozen=True, slots=True)
class PairRecord:
    """A judged pair: the prompt, the preferred and the other response."""

    row: int
    prompt: PromptRecord
    chosen: ResponseRecord
    rejected: ResponseRecord
    label_metadata: dict[str, Any] = field(default_factory=dict)
    # A gold pair: `chosen` is the known answer annotators are measured against; it
    # becomes a gold comparison, not an imported label.
    is_gold: bool = False


Record = PromptRecord | PairRecord


def _conversation(value: Any) -> Conversation:
    """A non-empty string, or a non-empty chat list reduced to {role, content}."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        return value
    if isinstance(value, list) and value:
        messages = []
        for index, message in enumerate(value):
            if not isinstance(message, dict):
                raise ValueError(f"message {index} must be an object with `role` and `content`")
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise ValueError(
                    f"message {index} has role {role!r}; expected one of {', '.join(ROLES)}"
                )
            if not isinstance(content, str):
                raise ValueError(f"message {index} needs `content` as a string")
            messages.append({"role": role, "content": content})
        return messages
    raise ValueError("must be a non-empty string or a list of {role, content} messages")


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
            self.text, self.model, _jsonable(self.sampling_params), _jsonable(metadata)
        )


class _PromptRowIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt: Any
    responses: list[_ResponseIn] = Field(min_length=1)
    reference: str | list[str] | None = None
    references: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    group: str | int | None = None

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: Any) -> Conversation:
        return _conversation(value)


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
        return None if value is None else _conversation(value)

    @field_validator("chosen", "rejected")
    @classmethod
    def _check_side(cls, value: Any) -> Conversation:
        # A side may be an empty answer; with no `prompt`, the transcript still has to hold one.
        return value if isinstance(value, str) else _conversation(value)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """Values from Parquet can be dates or bytes: keep them as text so JSON fields accept them."""
    if not value:
        return {}
    if _is_json(value):  # as JSON Lines and CSV give them: cheaper to check than to convert
        return value
    return json.loads(json.dumps(value, default=str))


def _is_json(value: Any) -> bool:
    """Whether the value is made of JSON types only: str-keyed dicts, lists and scalars."""
    if isinstance(value, str | int | float | None):
        return True
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def _references(row: _PromptRowIn) -> list[str]:
    refs: list[str] = []
    if isinstance(row.reference, str):
        refs.append(row.reference)
    elif isinstance(row.reference, list):
        refs.extend(row.reference)
    refs.extend(row.references or [])
    return [ref for ref in refs if ref.strip()]


def _response_text(side: Conversation) -> str:
    if isinstance(side, str):
        return side
    return "\n\n".join(message["content"] for message in side)


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
        cut = max(
            (
                shared.rfind(marker) + len(marker)
                for marker in ASSISTANT_MARKERS
                if marker in shared
            ),
            default=-1,
        )
        if cut <= 0:
            raise ValueError(
                "without a `prompt`, chosen and rejected must share a transcript that ends "
                "at an assistant turn (e.g. '\\n\\nHuman: …\\n\\nAssistant:')"
            )
        return chosen[:cut], chosen[cut:].lstrip(), rejected[cut:].lstrip()
    raise ValueError("chosen and rejected must both be strings or both be chat lists")


def _errors_from(row: int, exc: ValidationError) -> list[RowError]:
    errors = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item["loc"])
        reason = item["msg"].removeprefix("Value error, ")
        errors.append(RowError(row, where, reason))
    return errors


def parse_row(row: int, data: Any) -> Record | list[RowError]:
    """One raw row (already decoded from JSON/CSV/Parquet) → a record, or its errors."""
    if not isinstance(data, dict):
        return [RowError(row, "", f"expected an object, got {type(data).__name__}")]
    if problem := json_problem(data):  # too deep, or a NUL that PostgreSQL cannot store
        return [RowError(row, problem.path, problem.reason)]
    data = {key: value for key, value in data.items() if value is not None}
    if "chosen" in data or "rejected" in data:
        return _parse_pair(row, data)
    if "responses" in data:
        return _parse_prompt(row, data)
    return [
        RowError(
            row, "", "expected `prompt` with `responses`, or `chosen` and `rejected` (a TRL pair)"
        )
    ]


def _parse_prompt(row: int, data: dict[str, Any]) -> PromptRecord | list[RowError]:
    try:
        parsed = _PromptRowIn.model_validate(data)
    except ValidationError as exc:
        return _errors_from(row, exc)
    texts = [response.text for response in parsed.responses]
    if len(set(texts)) != len(texts):
        first_repeat = next(i for i, text in enumerate(texts) if texts.index(text) != i)
        return [RowError(row, f"responses.{first_repeat}.text", "repeats an earlier response")]
    metadata = {**(parsed.model_extra or {}), **parsed.metadata}
    return PromptRecord(
        row=row,
        input=parsed.prompt,
        references=_references(parsed),
        metadata=_jsonable(metadata),
        group="" if parsed.group is None else str(parsed.group),
        responses=tuple(response.record() for response in parsed.responses),
    )


def _parse_pair(row: int, data: dict[str, Any]) -> PairRecord | list[RowError]:
    try:
        parsed = _PairRowIn.model_validate(data)
    except ValidationError as exc:
        return _errors_from(row, exc)
    if parsed.prompt is None:
        try:
            prompt, chosen_text, rejected_text = _split_implicit_prompt(
                parsed.chosen, parsed.rejected
            )
        except ValueError as exc:
            return [RowError(row, "chosen", str(exc))]
    else:
        prompt = parsed.prompt
        chosen_text, rejected_text = _response_text(parsed.chosen), _response_text(parsed.rejected)
    if chosen_text == rejected_text:
        return [RowError(row, "rejected", "is the same response as chosen")]
    return PairRecord(
        row=row,
        prompt=PromptRecord(
            row=row,
            input=prompt,
            metadata=_jsonable(parsed.metadata),
            group="" if parsed.group is None else str(parsed.group),
        ),
        chosen=ResponseRecord(chosen_text),
        rejected=ResponseRecord(rejected_text),
        label_metadata=_jsonable(dict(parsed.model_extra or {})),
        is_gold=parsed.gold,
    )
