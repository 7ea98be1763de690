"""Scoring and inspecting a version over imported HH-RLHF pairs, some of whose answers are empty."""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.models import Project, User
from apps.rewards.inspection.services import inspection_create
from apps.rewards.models import Inspection, Score, ScoreRun
from tests.imports.files import jsonl_bytes
from tests.imports.test_empty_responses import HH_ROWS
from tests.imports.test_services import run
from tests.rewards.factories import version_of
from tests.rewards.test_inspection import _run

pytestmark = pytest.mark.django_db

SPEC: dict[str, Any] = {
    "components": [
        {"name": "words", "type": "length_penalty", "unit": "words", "target": 6, "tolerance": 2},
        {"name": "chars", "type": "length_penalty", "unit": "characters", "target": 30,
         "tolerance": 10, "shape": "gaussian"},
        {"name": "refusal", "type": "regex", "pattern": "(?i)rather|can't"},
        {"name": "clean", "type": "contains", "substrings": ["clean"]},
        {"name": "json", "type": "json_valid"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "like_refusal", "type": "embedding_similarity", "against": "exemplars",
         "exemplars": ["I'd rather not help with that."]},
    ],
    "combine": {"op": "weighted_sum", "weights": {
        "words": 0.2, "chars": 0.2, "refusal": 1.0, "clean": 0.5, "json": 0.1, "bleu": 1.0,
        "like_refusal": 1.0}},
}  # fmt: skip


def test_a_version_is_scored_and_inspected_over_empty_answers(
    project: Project, designer: User
) -> None:
    job = run(project, "harmless-base-test.jsonl", jsonl_bytes(HH_ROWS))
    assert job.responses_created == 12
    version = version_of(project, SPEC)
    inspection = inspection_create(version=version, created_by=designer, enqueue=False)

    done = _run(inspection)

    assert done.status == Inspection.Status.SUCCEEDED, done.error
    assert ScoreRun.objects.get(version=version).status == ScoreRun.Status.SUCCEEDED
    empty = Score.objects.filter(version=version, response__text="")
    assert empty.count() == 3
    for score in empty:
        assert score.total is not None
        # No reference: BLEU has nothing to compare with; the rest score the empty text.
        assert score.components["refusal"] == 0.0
        assert score.components["json"] == 0.0
        assert score.components["words"] == pytest.approx(-2.0)  # (6 words short - 2 allowed) / 2
        assert score.components["bleu"] is None
    result = done.result
    assert result["computed_on"]["responses"] == 12
    assert result["probed"] == 12
    probes = {p["probe"]: p for p in result["probes"]}
    assert probes["empty"]["n"] == probes["truncated"]["n"] == probes["repeated"]["n"] == 12
