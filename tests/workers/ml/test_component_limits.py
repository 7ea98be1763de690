"""No designer's pattern or response holds a worker: regular expressions run on RE2 (linear
in the text), and each text component has a time budget per item (issue 17, defect 6)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from pydantic import TypeAdapter

from workers.contracts import ScoreItem, ScoringError, ScoringResources
from workers.ml.components import ScoringContext, build_component
from workers.rewards.spec import Component, RewardSpec

COMPONENT = TypeAdapter(Component)
EVIL = "^(a+)+$"  # exponential on Python's re: 26 "a" and a "!" took 2.4 s, each "a" doubles it
HOSTILE = "a" * 28 + "!"


def score(params: dict[str, Any], items: list[ScoreItem], **resources: Any) -> list[float | None]:
    context = ScoringContext(ScoringResources(**resources))
    return build_component(COMPONENT.validate_python(params), context).score(items)


def item(response: str, reference: str | None = None) -> ScoreItem:
    return ScoreItem("Say something.", response, reference)


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    params = {"name": "evil", "type": "regex", "pattern": EVIL, "match": 1.0, "no_match": -1.0}
    items = [item(HOSTILE), item("aaaa")]

    values, seconds = timed(lambda: score(params, items))

    assert values == [-1.0, 1.0]
    assert seconds < 0.5


def test_inline_and_listed_flags_still_work_on_re2() -> None:
    inline = {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0}
    lines = {"name": "lines", "type": "regex", "pattern": "^no$", "flags": ["multiline"]}
    dotall = {"name": "dot", "type": "regex", "pattern": "a.b", "flags": ["dotall"]}
    items = [item("Well, AS AN AI I cannot."), item("yes\nno\nmore"), item("a\nb")]

    assert score(inline, items) == [-1.0, 0.0, 0.0]
    assert score(lines, items) == [0.0, 1.0, 0.0]
    assert score(dotall, items) == [0.0, 0.0, 1.0]


def test_json_schema_patterns_run_on_re2() -> None:
    schema = {
        "type": "object",
        "properties": {"word": {"type": "string", "pattern": EVIL}},
        "patternProperties": {"^x_(a+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    params = {"name": "j", "type": "json_valid", "schema": schema, "invalid": -1.0}
    items = [
        item('{"word": "%s"}' % HOSTILE),  # noqa: UP031 - JSON braces
        item('{"word": "aaa", "x_aa": 3}'),
        item('{"x_%s": 3}' % HOSTILE),  # noqa: UP031 - JSON braces
        item('{"x_aa": "three"}'),
        item('{"other": 1}'),
    ]

    values, seconds = timed(lambda: score(params, items))

    assert values == [-1.0, 1.0, -1.0, -1.0, -1.0]
    assert seconds < 0.5


def test_json_nested_past_the_recursion_limit_is_invalid_not_a_crash() -> None:
    params = {"name": "j", "type": "json_valid", "invalid": -1.0}

    assert score(params, [item("[" * 100_000 + "]" * 100_000), item("[[1]]")]) == [-1.0, 1.0]


def test_an_item_over_its_time_budget_is_missing_and_the_rest_are_scored(caplog) -> None:  # type: ignore[no-untyped-def]
    # ROUGE-L is quadratic in words: 8,000 words against 8,000 take many seconds.
    long = " ".join(f"w{i % 997}" for i in range(8000))
    params = {"name": "rouge", "type": "text_metric", "metric": "rouge_l"}
    items = [item("the cat sat", "the cat sat"), item(long, long[::-1]), item("a b", "a c")]

    with caplog.at_level(logging.WARNING):
        values, seconds = timed(lambda: score(params, items, item_seconds=0.3))

    assert values == [1.0, None, 0.5]
    assert seconds < 2.0
    assert (
        "rouge: 1 of 3 items ran past the budget of 0.3 s per item; their values are missing"
        in caplog.text
    )


def test_a_fuzzy_match_too_long_to_stop_is_not_started(caplog) -> None:  # type: ignore[no-untyped-def]
    """rapidfuzz runs in C, where the alarm cannot stop it: texts whose lengths multiply past
    FUZZY_MAX_CELLS are missing at once (250,000 against 250,000 characters took ~3 s)."""
    big = "abcdefgh " * 27_778
    params = {"name": "fuzzy", "type": "text_metric", "metric": "fuzzy_match"}

    with caplog.at_level(logging.WARNING):
        values, seconds = timed(lambda: score(params, [item(big, big[::-1]), item("ab", "ab")]))

    assert values == [None, 1.0]
    assert seconds < 0.5
    assert "fuzzy: 1 of 2 items ran past the budget of 5.0 s per item" in caplog.text


def test_a_stored_pattern_re2_cannot_run_still_parses_but_is_not_scored() -> None:
    """Versions saved before patterns ran on RE2 stay readable; scoring refuses them (the
    worker's scoring_resources names the problem first: tests/rewards/test_component_limits.py)."""
    stored = {"components": [{"name": "echo", "type": "regex", "pattern": r"(\w+) \1"}],
              "combine": {"op": "min"}}  # fmt: skip
    spec = RewardSpec.model_validate(stored)
    component = build_component(spec.components[0], ScoringContext())

    with pytest.raises(ScoringError, match="^echo: RE2 cannot run the pattern$"):
        component.score([item("hello hello")])


def test_past_the_requests_deadline_a_text_component_stops_before_its_next_item() -> None:
    """A synchronous request whose caller stopped waiting (SCORE_TIMEOUT_SECONDS) does not
    go on scoring for nobody: the component raises before the next item."""
    from workers.contracts import DeadlinePassed

    params = {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0}
    items = [item("As an AI, no."), item("Sure.")]

    assert score(params, items, deadline=time.time() + 60) == [-1.0, 0.0]
    with pytest.raises(DeadlinePassed, match="apology: the request's caller stopped waiting"):
        score(params, items, deadline=time.time() - 1)


def test_a_requests_deadline_is_its_messages_expiry() -> None:
    from datetime import UTC, datetime

    from workers.tasks.rewards import deadline_of

    moment = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    assert deadline_of(None) is None
    assert deadline_of(moment) == moment.timestamp()
    assert deadline_of(moment.isoformat()) == moment.timestamp()
    assert deadline_of("2026-12-07T22:00:00") == moment.timestamp()  # naive: UTC
