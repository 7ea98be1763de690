"""What every JSON document from outside must keep to: API bodies and import rows alike.

Two limits, checked in one walk of the decoded value:
- nesting: at most MAX_JSON_DEPTH levels of objects and arrays. The deepest structures Palate
  itself reads are a reward spec's transform (`{"transforms": {"rm": [{"log_sigmoid":
  {"reference": "p50"}}]}}`, 5 levels) and a list of prompt rows (`[{"responses":
  [{"metadata": {…}}]}]`, 5 levels around the caller's metadata); anything far deeper is
  hostile, and past about 1,000 levels Python's own decoder and the recursive readers after
  it fail.
- no NUL character (`\\u0000`) in any string or object key: PostgreSQL stores none, in text
  or in JSON, so such a value could only fail at the database.

No Django here: the import's row validation (apps.imports.rows) uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 64
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"
HAS_NUL = "contains a NUL character (\\u0000)"
# What the API answers for a NUL in a field or query value: DRF's own words for its CharField.
NUL_MESSAGE = "Null characters are not allowed."


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """Where a value breaks a limit: a dotted path (`spans.0.note`; "" for the whole value),
    and why, as a phrase (`contains a NUL character (\\u0000)`)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


def json_problem(value: Any) -> JsonProblem | None:
    """The first place, depth first, where the value is nested too deeply or holds a NUL
    character; None when it keeps to both limits. A nesting problem names only the
    top-level key it is under: the full path would be as long as the nesting."""
    found = _find(value, 0)
    if found is None:
        return None
    reversed_path, reason = found
    path = list(reversed(reversed_path))
    if reason == TOO_DEEP:
        path = path[:1]
    # A NUL in a key shows as its escape: the path itself is stored and shown.
    return JsonProblem(".".join(str(part).replace("\x00", "\\u0000") for part in path), reason)


def json_text_may_break_limits(text: str) -> bool:
    """A quick look at JSON text (C-speed string searches): False when its value surely keeps
    to both limits (no `\\u0000` escape, fewer brackets than the depth limit), so the
    usual body needs no walk."""
    return "\\u0000" in text or text.count("{") + text.count("[") > MAX_JSON_DEPTH


def _find(value: Any, depth: int) -> tuple[list[str | int], str] | None:
    """(path from the problem up to `value`, reason), or None. Recursion stops at the
    depth limit, so it never runs deeper than MAX_JSON_DEPTH frames. Strings inside a
    container are checked in place: a call per string would double the walk's cost."""
    if isinstance(value, str):
        return ([], HAS_NUL) if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    if depth >= MAX_JSON_DEPTH:
        return [], TOO_DEEP
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return [key], HAS_NUL
        if isinstance(item, str):
            if "\x00" in item:
                return [key], HAS_NUL
        elif isinstance(item, _CONTAINERS):
            found = _find(item, depth + 1)
            if found is not None:
                found[0].append(key)
                return found
    return None


_CONTAINERS = (dict, list, tuple)
