"""Content hashes that make imports idempotent. Pure functions, no Django."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def prompt_hash(prompt_input: str | list[dict[str, str]]) -> str:
    """sha256 of a prompt's input (a string or a chat list of {role, content})."""
    return hashlib.sha256(b"prompt\0" + _canonical(prompt_input)).hexdigest()


def response_hash(text: str) -> str:
    """sha256 of a response's text; one prompt holds each distinct text once."""
    return hashlib.sha256(b"response\0" + text.encode()).hexdigest()
