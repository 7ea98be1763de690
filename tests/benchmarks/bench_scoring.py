"""Scoring throughput: 10,000 responses with embedding similarity + BLEU + regex + length.

Run with `python tests/benchmarks/bench_scoring.py` (Postgres at DATABASE_URL; it uses
a throw-away database). Prints, from the same run, on the same texts and batch size:

- raw `SentenceTransformer.encode` over every text the function needs (each response
  and each prompt's reference answer), as responses per second;
- the first score run end to end, through the code the Celery task runs
  (`score_run_execute` with the real engine): read the responses, encode through the
  embedding cache (written to Postgres), BLEU, regex, length, combine, write Score rows;
  goal ≥ 0.85 × raw encode;
- a new version that only changes weights, as a score run (raw values copied from the
  first version's scores, no model calls); goal ≥ 20,000 responses/s;
- the engine alone on cached embeddings (every component computed again, no encoding).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.models import Project  # noqa: E402
from apps.prompts.hashing import prompt_hash, response_hash  # noqa: E402
from apps.prompts.models import Prompt, Response  # noqa: E402
from apps.rewards.models import Embedding, RewardFunctionVersion  # noqa: E402
from apps.rewards.services import (  # noqa: E402
    reward_function_create,
    reward_function_version_create,
    score_run_claim,
    score_run_create,
    score_run_execute,
    scoring_resources,
)

PROMPTS, PER_PROMPT = 2_500, 4
WORDS = [
    "model", "reward", "policy", "answer", "question", "explain", "careful", "helpful",
    "honest", "gradient", "preference", "label", "annotator", "rubric", "token", "sample",
    "batch", "context", "length", "summary", "python", "function", "return", "value",
    "error", "example", "because", "therefore", "however", "as", "an", "AI",
]  # fmt: skip
SPEC = {
    "components": [
        {"name": "sim", "type": "embedding_similarity", "against": "reference"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0},
        {"name": "len", "type": "length_penalty", "unit": "words", "target": 25,
         "tolerance": 10},
    ],
    "combine": {"op": "weighted_sum",
                "weights": {"sim": 1.0, "bleu": 0.5, "apology": 1.0, "len": 0.3}},
}  # fmt: skip


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_project() -> Project:
    rng = random.Random(0)
    project = Project.objects.create(name="bench scoring", slug="bench-scoring")
    prompts = []
    for i in range(PROMPTS):
        text = f"[{i}] " + _sentence(rng, 12)
        reference = f"({i}) " + _sentence(rng, 22)
        prompts.append(Prompt(project=project, input=text, references=[reference],
                              content_hash=prompt_hash(text)))  # fmt: skip
    Prompt.objects.bulk_create(prompts, batch_size=2000)
    responses = []
    for prompt in prompts:
        for j in range(PER_PROMPT):
            text = f"<{prompt.pk}.{j}> " + _sentence(rng, rng.randint(12, 36))
            responses.append(Response(prompt=prompt, text=text, content_hash=response_hash(text)))
    Response.objects.bulk_create(responses, batch_size=2000)
    return project


def run_job(version: RewardFunctionVersion) -> float:
    from workers.ml.scoring import Scorer

    run = score_run_create(version=version, created_by=None, enqueue=False)
    started = time.perf_counter()
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
    done = score_run_execute(run=claimed, compute=scorer.component_values)
    elapsed = time.perf_counter() - started
    assert done.status == "succeeded", done.error
    assert done.responses_scored == PROMPTS * PER_PROMPT
    return elapsed


def main() -> None:
    import torch

    from workers.contracts import ScoreItem
    from workers.ml.embeddings import device, load_encoder
    from workers.ml.scoring import Scorer
    from workers.rewards.fitting import fitted_without_data

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    connection.settings_dict["TEST"]["NAME"] = f"bench_scoring_{connection.settings_dict['NAME']}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    try:
        n = PROMPTS * PER_PROMPT
        project = make_project()
        batch = settings.SCORE_BATCH_SIZE
        encoder = load_encoder()
        encoder.encode(["warm up the model"] * batch, batch_size=batch)
        responses = list(Response.objects.filter(prompt__project=project).select_related("prompt"))
        texts = [r.text for r in responses] + [p.references[0] for p in project.prompts.all()]
        threads = torch.get_num_threads()
        print(f"{n} responses, {len(texts)} texts to encode, batch size {batch}, "
              f"device {device()}, torch threads {threads}")  # fmt: skip

        started = time.perf_counter()
        encoder.encode(texts, batch_size=batch)
        raw = n / (time.perf_counter() - started)
        print(f"raw SentenceTransformer.encode:     {raw:9.0f} responses/s")

        first = reward_function_create(project=project, name="bench", spec=SPEC, created_by=None)
        assert not Embedding.objects.exists()
        elapsed = run_job(first)
        print(f"first score run, end to end:        {n / elapsed:9.0f} responses/s "
              f"({n / elapsed / raw:.2f} × raw encode; goal ≥ 0.85)")  # fmt: skip

        reweighted = {**SPEC, "combine": {"op": "weighted_sum", "weights":
                      {"sim": 2.0, "bleu": 0.1, "apology": 3.0, "len": 0.0}}}  # fmt: skip
        second = reward_function_version_create(
            function=first.function, spec=reweighted, created_by=None
        )
        calls = encoder.calls
        elapsed = run_job(second)
        assert encoder.calls == calls
        print(
            f"weights changed, score run:         {n / elapsed:9.0f} responses/s "
            "(goal ≥ 20,000; no encoder call)"
        )

        items = [ScoreItem(r.prompt.text, r.text, r.prompt.references[0]) for r in responses]
        scorer = Scorer(first.parsed_spec, scoring_resources(version=first))
        started = time.perf_counter()
        scorer.score(items, fitted_without_data(first.parsed_spec))
        elapsed = time.perf_counter() - started
        assert encoder.calls == calls
        print(
            f"engine alone, cached embeddings:    {n / elapsed:9.0f} responses/s "
            "(every component computed again)"
        )
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
