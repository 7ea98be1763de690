"""Text-only components on hand-computed examples."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter

from workers.contracts import ScoreItem
from workers.ml.components import ScoringContext, build_component
from workers.ml.components.text import length_penalty, rouge_l
from workers.rewards.spec import Component

COMPONENT = TypeAdapter(Component)


def score(params: dict[str, Any], items: list[ScoreItem]) -> list[float | None]:
    component = build_component(COMPONENT.validate_python(params), ScoringContext())
    return component.score(items)


def item(response: str, reference: str | None = None) -> ScoreItem:
    return ScoreItem("Say something.", response, reference)


def test_regex_gives_match_or_no_match_values_with_flags() -> None:
    params = {"name": "apology", "type": "regex", "pattern": "as an ai", "match": -1.0,
              "no_match": 0.5, "flags": ["ignorecase"]}  # fmt: skip

    assert score(params, [item("As an AI, I cannot."), item("Sure, here it is.")]) == [-1.0, 0.5]


def test_contains_any_all_and_case() -> None:
    items = [item("Thanks, CITED [1] and [2]"), item("cited [1]"), item("nothing")]
    any_ = {"name": "c", "type": "contains", "substrings": ["[1]", "[2]"]}
    all_ = {**any_, "mode": "all", "match": 2.0, "no_match": -2.0}
    folded = {"name": "c", "type": "contains", "substrings": ["cited"], "case_sensitive": False}

    assert score(any_, items) == [1.0, 1.0, 0.0]
    assert score(all_, items) == [2.0, -2.0, -2.0]
    assert score(folded, items) == [1.0, 1.0, 0.0]


def test_json_valid_with_and_without_a_schema() -> None:
    items = [item(' {"answer": 4} '), item('{"answer": "four"}'), item("{answer: 4}")]
    plain = {"name": "j", "type": "json_valid"}
    schema = {
        "name": "j",
        "type": "json_valid",
        "schema": {"type": "object", "properties": {"answer": {"type": "integer"}},
                   "required": ["answer"]},
        "valid": 1.0,
        "invalid": -1.0,
    }  # fmt: skip

    assert score(plain, items) == [1.0, 1.0, 0.0]
    assert score(schema, items) == [1.0, -1.0, -1.0]


def test_length_penalty_is_zero_inside_the_band_and_falls_outside() -> None:
    assert length_penalty(150, target=150, tolerance=100, shape="linear") == 0.0
    assert length_penalty(250, target=150, tolerance=100, shape="linear") == 0.0
    assert length_penalty(300, target=150, tolerance=100, shape="linear") == -0.5
    assert length_penalty(0, target=300, tolerance=100, shape="linear") == -2.0
    assert length_penalty(350, target=150, tolerance=100, shape="gaussian") == pytest.approx(
        math.exp(-0.5) - 1
    )


def test_length_penalty_counts_words_characters_and_tokens() -> None:
    items = [item("one two  three four"), item("x" * 12)]
    words = {"name": "n", "type": "length_penalty", "unit": "words", "target": 2, "tolerance": 1}
    chars = {**words, "unit": "characters", "target": 10, "tolerance": 1}
    # all-MiniLM-L6-v2's tokenizer: "hello world" is 2 tokens, "Tokenisation is fun" 4
    # (token ##isation is fun).
    tokens = {**words, "unit": "tokens", "target": 2, "tolerance": 1}

    assert score(words, items) == [-1.0, 0.0]  # 4 words: 1 beyond the band of 1–3
    assert score(chars, items) == [pytest.approx(-8.0), -1.0]  # 19 and 12 characters
    assert score(tokens, [item("hello world"), item("Tokenisation is fun")]) == [0.0, -1.0]
    tight = {**tokens, "tolerance": 0.5}
    assert score(tight, [item("hello world"), item("Tokenisation is fun")]) == [0.0, -3.0]


def test_bleu_on_a_hand_computed_sentence() -> None:
    # Precisions 5/6, 3/5, 2/4, 1/3, no brevity penalty: (5/6·3/5·1/2·1/3)^(1/4).
    params = {"name": "bleu", "type": "text_metric", "metric": "bleu"}
    items = [item("the cat sat on the mat", "the cat sat on a mat"), item("same words here x",
             "same words here x"), item("no reference")]  # fmt: skip

    values = score(params, items)

    assert values[0] == pytest.approx((5 / 6 * 3 / 5 * 1 / 2 * 1 / 3) ** 0.25)
    assert values[1:] == [pytest.approx(1.0), None]


def test_chrf_is_one_for_identical_and_zero_for_disjoint_text() -> None:
    params = {"name": "chrf", "type": "text_metric", "metric": "chrf"}

    assert score(params, [item("abc def", "abc def"), item("xyz", "qqq")]) == [
        pytest.approx(1.0),
        0.0,
    ]


def test_rouge_l_exact_and_fuzzy_match() -> None:
    pair = item("The cat sat on the mat", "the cat sat on a mat")
    spaced = item("  the  answer is 4 ", "the answer is 4")
    fuzzy = {"name": "f", "type": "text_metric", "metric": "fuzzy_match"}

    assert rouge_l("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(5 / 6)
    assert score({"name": "r", "type": "text_metric", "metric": "rouge_l"}, [pair]) == [
        pytest.approx(5 / 6)
    ]
    assert score({"name": "e", "type": "text_metric", "metric": "exact_match"}, [pair, spaced]) == [
        0.0,
        1.0,
    ]
    # Indel similarity: LCS("kitten", "sitting") = 4, so 1 − (13 − 8)/13 = 8/13.
    assert score(fuzzy, [item("kitten", "sitting")]) == [pytest.approx(8 / 13)]
