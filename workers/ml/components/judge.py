"""The rubric judge: an OpenAI-compatible chat endpoint scores each response against a rubric.

The model must answer strict JSON, `{"scores": {"<criterion>": <integer on its scale>}}`,
with every criterion of the rubric and nothing else. The value is the weighted mean of
the scores rescaled to 0–1 (low end 0, high end 1). Connection errors, timeouts and
the HTTP statuses that mean "try again" (429, 502, 503, 504) are retried with
exponential backoff; any other failure — other HTTP errors, a malformed or incomplete
answer — makes the value missing (None), never 0, and is logged.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workers.contracts import JudgeTarget, ScoreItem, ScoringError
from workers.ml.components.base import Component, ScoringContext
from workers.rewards import spec

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 502, 503, 504}
MAX_PARALLEL = 8


class JudgeAnswerError(ValueError):
    """The endpoint answered, but not with what the protocol asks."""


class _Transient(Exception):
    """A failure worth trying again."""


def chat_url(url: str) -> str:
    """The chat completions URL from a base URL (`…/v1`) or the full one."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def judge_messages(target: JudgeTarget, item: ScoreItem) -> list[dict[str, str]]:
    criteria = "\n".join(
        f"- {c.name} (integer {c.low} to {c.high}): {c.description}".rstrip(": ")
        for c in target.criteria
    )
    example = json.dumps({"scores": {c.name: c.high for c in target.criteria}})
    system = (
        "You grade one response to a prompt against a rubric. Answer with one JSON object "
        f"and nothing else, in exactly this shape: {example}, giving every criterion an "
        "integer on its scale."
    )
    parts = [f"Rubric criteria:\n{criteria}"]
    if target.guidelines:
        parts.append(f"Guidelines:\n{target.guidelines}")
    parts.append(f"Prompt:\n{item.prompt}")
    if item.reference is not None:
        parts.append(f"Reference answer:\n{item.reference}")
    parts.append(f"Response to grade:\n{item.response}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_judgement(target: JudgeTarget, body: Any) -> float:
    """The 0–1 value from a chat completion body; JudgeAnswerError if it breaks the protocol."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeAnswerError("no choices[0].message.content in the answer") from None
    try:
        answer = json.loads(content)
    except (TypeError, ValueError):
        raise JudgeAnswerError("the message is not JSON") from None
    scores = answer.get("scores") if isinstance(answer, dict) else None
    if not isinstance(scores, dict) or set(answer) != {"scores"}:
        raise JudgeAnswerError('the answer should be {"scores": {...}} and nothing else')
    names = {c.name for c in target.criteria}
    if set(scores) != names:
        raise JudgeAnswerError(f"scores for {sorted(scores)}; expected {sorted(names)}")
    total = weights = 0.0
    for c in target.criteria:
        value = scores[c.name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise JudgeAnswerError(f"{c.name}: {value!r} is not an integer")
        if not c.low <= value <= c.high:
            raise JudgeAnswerError(f"{c.name}: {value} is outside {c.low}–{c.high}")
        total += c.weight * (value - c.low) / (c.high - c.low)
        weights += c.weight
    if weights == 0:
        return total / len(target.criteria) if target.criteria else math.nan
    return total / weights


def _post(target: JudgeTarget, payload: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the spec
        chat_url(target.url), data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as answer:  # noqa: S310
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code in RETRY_STATUSES:
            raise _Transient(f"HTTP {exc.code}") from None
        raise JudgeAnswerError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _Transient(str(exc)) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise JudgeAnswerError("the body is not JSON") from None


def judge_one(target: JudgeTarget, item: ScoreItem) -> float | None:
    """One response's judged value, or None when the judge could not give one."""
    payload = {
        "model": target.model,
        "messages": judge_messages(target, item),
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    for attempt in range(target.attempts):
        try:
            return parse_judgement(target, _post(target, payload))
        except _Transient as exc:
            if attempt + 1 == target.attempts:
                logger.warning(
                    "judge %s unreachable after %s tries: %s", target.url, attempt + 1, exc
                )
                return None
            time.sleep(target.backoff * 2**attempt)
        except JudgeAnswerError as exc:
            logger.warning("judge %s gave no usable answer: %s", target.url, exc)
            return None
    return None


class RubricJudgeComponent(Component[spec.RubricJudge]):
    """Scores each response with an LLM judge against a rubric version (see module docs)."""

    kind = "rubric_judge"

    def __init__(self, params: spec.RubricJudge, context: ScoringContext) -> None:
        super().__init__(params, context)
        target = context.resources.judges.get(params.name)
        if target is None:
            raise ScoringError(f"{params.name}: no judge endpoint was resolved for this component")
        self.target = target

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
            return list(pool.map(lambda item: judge_one(self.target, item), items))
