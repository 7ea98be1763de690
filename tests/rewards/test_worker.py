"""A real Celery worker on Redis scores a project, answers the scoring endpoint, and serves
the README's TRL client over a live server."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from apps.rewards.models import Embedding, Score, ScoreRun
from apps.rewards.services import score_run_create
from tests.api import token_client
from tests.conftest import wait_for
from tests.rewards.factories import responses_for, version_of
from workers.ml.embeddings import load_encoder

pytestmark = pytest.mark.integration

SPEC = {
    "components": [
        {"name": "sim", "type": "embedding_similarity"},
        {"name": "cites", "type": "contains", "substrings": ["[1]"]},
    ],
    "combine": {"op": "weighted_sum", "weights": {"sim": 1.0, "cites": 0.5}},
}
REFERENCE = "The capital of France is Paris."


def _cosine(a: str, b: str) -> float:
    first, second = load_encoder().encode([a, b])
    return float(first @ second)


def _finished(run: ScoreRun) -> ScoreRun | None:
    run.refresh_from_db()
    return run if run.is_finished else None


def test_a_worker_scores_every_response_of_a_project(celery_worker_process, project):  # type: ignore[no-untyped-def]
    texts = ["Paris is the capital of France [1].", "I like turtles.", "Lyon is in France."]
    responses = responses_for(project, {"Capital of France?": texts}, reference=REFERENCE)
    version = version_of(project, SPEC)

    run = score_run_create(version=version, created_by=None)
    wait_for(lambda: _finished(run), timeout=120)

    assert run.status == ScoreRun.Status.SUCCEEDED, run.error
    assert (run.responses_total, run.responses_scored) == (3, 3)
    scores = {s.response_id: s for s in Score.objects.filter(version=version)}
    for response, cites in zip(responses, [1.0, 0.0, 0.0], strict=True):
        sim = _cosine(response.text, REFERENCE)
        assert scores[response.pk].components == {"sim": pytest.approx(sim, abs=1e-5),
                                                  "cites": cites}  # fmt: skip
        assert scores[response.pk].total == pytest.approx(sim + 0.5 * cites, abs=1e-5)
    # Three responses and one reference, each encoded once and cached.
    assert Embedding.objects.filter(backbone="all-MiniLM-L6-v2").count() == 4


def test_the_score_endpoint_answers_through_a_worker(celery_worker_process, project, designer):  # type: ignore[no-untyped-def]
    version = version_of(project, SPEC)
    items = [
        {"prompt": "Capital of France?", "response": "Paris [1]", "reference": REFERENCE},
        {"prompt": [{"role": "user", "content": "Hi"}], "response": "Hello [1]"},
    ]

    response = token_client(designer).post(
        f"/api/v1/reward-function-versions/{version.pk}/score/", {"items": items}, format="json"
    )

    assert response.status_code == 200, response.content
    sim = _cosine("Paris [1]", REFERENCE)
    assert response.json() == {
        "results": [
            {"reward": pytest.approx(sim + 0.5, abs=1e-5),
             "components": {"sim": pytest.approx(sim, abs=1e-5), "cites": 1.0}},
            # No reference: sim is missing; the weights renormalise onto cites (1.5 · 1).
            {"reward": 1.5, "components": {"sim": None, "cites": 1.0}},
        ]
    }  # fmt: skip


def test_hostile_input_does_not_hold_the_worker(celery_worker_process, project, designer):  # type: ignore[no-untyped-def]
    """`^(a+)+$` on 40 "a" and a "!" would hold Python's re for days; RE2 answers at once.
    ROUGE-L on 8,000 words against 8,000 takes longer than SCORE_ITEM_SECONDS (5): the
    worker's alarm stops it and that value is missing."""
    spec = {
        "components": [
            {"name": "evil", "type": "regex", "pattern": "^(a+)+$", "match": 1.0,
             "no_match": -1.0},
            {"name": "rouge", "type": "text_metric", "metric": "rouge_l"},
        ],
        "combine": {"op": "weighted_sum", "weights": {"evil": 1.0, "rouge": 1.0}},
    }  # fmt: skip
    version = version_of(project, spec)
    long = " ".join(f"w{i % 997}" for i in range(8000))
    items = [
        {"prompt": "p", "response": "a" * 40 + "!", "reference": "b"},
        {"prompt": "p", "response": long, "reference": long[::-1]},
    ]
    start = time.monotonic()

    response = token_client(designer).post(
        f"/api/v1/reward-function-versions/{version.pk}/score/", {"items": items}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "results": [
            {"reward": -1.0, "components": {"evil": -1.0, "rouge": 0.0}},
            # rouge is missing: the weights renormalise onto evil (2 · −1).
            {"reward": -2.0, "components": {"evil": -1.0, "rouge": None}},
        ]
    }
    assert time.monotonic() - start < 30


@pytest.mark.integration
def test_a_request_nobody_waits_for_any_more_stops_on_the_worker(celery_worker_process, project):  # type: ignore[no-untyped-def]
    """Ten items of ROUGE-L that each run to SCORE_ITEM_SECONDS (5 s) would hold the worker
    for 50 s; once the message's expiry (the endpoint's wait) has passed, it stops."""
    from workers.tasks.rewards import score_items

    spec = {
        "components": [{"name": "rouge", "type": "text_metric", "metric": "rouge_l"}],
        "combine": {"op": "weighted_sum", "weights": {"rouge": 1.0}},
    }
    version = version_of(project, spec)
    long = " ".join(f"w{i % 997}" for i in range(8000))
    items = [{"prompt": "p", "response": long, "reference": long[::-1]}] * 10
    start = time.monotonic()

    answer = score_items.apply_async(
        kwargs={"version_id": version.pk, "items": items}, expires=3
    ).get(timeout=60)

    assert answer == {
        "error": "Nobody waits for this answer any more (SCORE_TIMEOUT_SECONDS passed)."
    }
    assert time.monotonic() - start < 20


def _readme_client() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (client,) = [block for block in blocks if "def palate_reward(" in block]
    return client


def test_the_readme_grpo_client_scores_completions_on_a_live_server(
    celery_worker_process, live_server, project, designer, monkeypatch
):  # type: ignore[no-untyped-def]
    from apps.accounts.services import token_issue

    version = version_of(project, SPEC)
    monkeypatch.setenv("PALATE_URL", live_server.url)
    monkeypatch.setenv("PALATE_TOKEN", token_issue(user=designer).key)
    monkeypatch.setenv("PALATE_VERSION", str(version.pk))
    namespace: dict[str, object] = {}
    exec(compile(_readme_client(), "README.md", "exec"), namespace)  # noqa: S102 - our README
    palate_reward = namespace["palate_reward"]

    # As TRL calls it: conversational prompts and completions, plus a dataset column.
    rewards = palate_reward(  # type: ignore[operator]
        prompts=[[{"role": "user", "content": "Capital of France?"}]] * 2,
        completions=[[{"role": "assistant", "content": "Paris [1]"}],
                     [{"role": "assistant", "content": "Turtles."}]],
        reference=[REFERENCE, None],
    )  # fmt: skip

    assert rewards == [pytest.approx(_cosine("Paris [1]", REFERENCE) + 0.5, abs=1e-5), 0.0]
    assert all(isinstance(r, float) and not math.isnan(r) for r in rewards)
