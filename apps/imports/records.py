"""What an import row becomes (records), and the checks every row shape shares.

No Django here: the writer in services.py turns records into rows; the row shapes in
`apps.imports.rows` and `apps.imports.published` build records from raw rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from apps.prompts.hashing import prompt_hash, response_hash

ROLES = ("system", "developer", "user", "assistant", "tool")

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
    # Judged equally good (HelpSteer's 0): an imported `tie` label; `chosen` is the first.
    is_tie: bool = False


Record = PromptRecord | PairRecord


def conversation(value: Any) -> Conversation:
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


def response_text(side: Conversation) -> str:
    """An answer given as text, or as the assistant's messages (their contents, joined)."""
    if isinstance(side, str):
        return side
    return "\n\n".join(message["content"] for message in side)


# --- HH-RLHF transcripts ------------------------------------------------------------------

# "\n\nHuman: …\n\nAssistant: …", as Anthropic's HH-RLHF writes a conversation.
HH_ASSISTANT = "\n\nAssistant:"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}
_HH_SPEAKERS = {role: speaker for speaker, role in _HH_ROLES.items()}


def hh_answer(after_marker: str) -> str:
    """The answer that follows `Assistant:` in a transcript: all of it but the one space
    HH writes after the colon (so an answer of "" is the transcript's end)."""
    return after_marker[1:] if after_marker.startswith(" ") else after_marker


def hh_render(messages: list[dict[str, str]]) -> str:
    """Messages as an HH transcript: a turn is "\\n\\nHuman:" or "\\n\\nAssistant:", then a
    space and its text unless the text is empty."""
    return "".join(
        f"\n\n{_HH_SPEAKERS[m['role']]}:{' ' + m['content'] if m['content'] else ''}"
        for m in messages
    )


def hh_messages(text: str) -> list[dict[str, str]] | None:
    """An HH transcript as messages (user for Human, assistant for Assistant), or None when
    the text is not one or would not be written back the same by `hh_render`.

    A transcript that ends at an empty `Assistant:` (a prompt handing over to the model)
    ends with the last Human turn: the handover is where the answer goes, not a message.
    """
    if not text.startswith("\n\nHuman:"):
        return None
    parts = _HH_TURN.split(text)
    messages = [
        {"role": _HH_ROLES[speaker], "content": hh_answer(said)}
        for speaker, said in zip(parts[1::2], parts[2::2], strict=True)
    ]
    if hh_render(messages) != text:
        return None
    if messages[-1] == {"role": "assistant", "content": ""}:
        messages.pop()
    return messages


# Prompt metadata that keeps a transcript's text as it was in the file.
TRANSCRIPT_KEY = "transcript"


def prompt_input(value: Conversation) -> tuple[Conversation, dict[str, Any]]:
    """A prompt as stored: an HH transcript becomes its messages, its text kept in metadata
    (`transcript`); anything else as it is."""
    if isinstance(value, str) and (messages := hh_messages(value)):
        return messages, {TRANSCRIPT_KEY: value}
    return value, {}


# --- values -------------------------------------------------------------------------------


def jsonable(value: dict[str, Any]) -> dict[str, Any]:
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


def errors_from(row: int, exc: ValidationError) -> list[RowError]:
    errors = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item["loc"])
        reason = item["msg"].removeprefix("Value error, ")
        errors.append(RowError(row, where, reason))
    return errors


@dataclass(frozen=True, slots=True)
class RowShape:
    """One kind of row an import reads, announced by any of its `columns`: `parse` turns
    a row into a record (or its errors); a shape Palate does not read has a `refusal`."""

    name: str
    columns: frozenset[str]
    parse: Callable[[int, dict[str, Any]], Record | list[RowError]] | None = None
    refusal: str = ""
