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
- a new version that adds transforms fitted on the data (z-score, min-max, z-score per
  prompt), as a score run: the same copy, plus fitting and storing the statistics;
- the engine alone on cached embeddings (every component computed again, no encoding).

`BENCH_SCORING_ENCODE=0` skips the lines that encode (raw encode, first run, engine)
for a quick look at re-scoring: the first version is then scored through the same
`score_run_execute` with stand-in raw values (seeded random numbers, nothing
encoded), which is all the later runs read. `BENCH_SCORING_REPEAT=5` runs each
re-scoring line that many times (a new version each time) and prints the median and
the best.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Collection, Sequence
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
from workers.contracts import ScoreItem  # noqa: E402
from workers.rewards.fitting import ComputeRaw  # noqa: E402

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
REWEIGHTED = {**SPEC, "combine": {"op": "weighted_sum", "weights":
              {"sim": 2.0, "bleu": 0.1, "apology": 3.0, "len": 0.0}}}  # fmt: skip
TRANSFORMED = {**SPEC, "transforms": {"sim": ["zscore"], "bleu": ["minmax"],
                                      "len": ["zscore_per_prompt"]}}  # fmt: skip
ENCODE = os.environ.get("BENCH_SCORING_ENCODE", "1") != "0"
REPEAT = int(os.environ.get("BENCH_SCORING_REPEAT", "1"))


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


def stand_in_values(items: Sequence[ScoreItem], names: Collection[str] | None) -> dict[str, list]:
    """Raw values without a model (`BENCH_SCORING_ENCODE=0`): seeded, shaped like the real ones."""
    rng = random.Random(len(items))
    shapes = {"sim": rng.random, "bleu": rng.random,
              "apology": lambda: -1.0 if rng.random() < 0.05 else 0.0,
              "len": lambda: -float(rng.randint(0, 12))}  # fmt: skip
    return {name: [shapes[name]() for _ in items] for name in names or shapes}


def no_model_call(items: Sequence[ScoreItem], names: Collection[str] | None) -> dict[str, list]:
    raise AssertionError(f"re-scoring computed {names} for {len(items)} items")


def run_job(
    version: RewardFunctionVersion, *, stand_in: ComputeRaw | None = None, copy_only: bool = False
) -> float:
    """One score run as the Celery task does it (claim, engine, execute), timed.

    `stand_in` replaces the engine's values; `copy_only` fails the run if anything is
    computed rather than copied."""
    from workers.ml.scoring import Scorer

    run = score_run_create(version=version, created_by=None, enqueue=False)
    started = time.perf_counter()
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
    compute = stand_in or (no_model_call if copy_only else scorer.component_values)
    done = score_run_execute(run=claimed, compute=compute)
    elapsed = time.perf_counter() - started
    assert done.status == "succeeded", done.error
    assert done.responses_scored == PROMPTS * PER_PROMPT
    return elapsed


def rescoring(first: RewardFunctionVersion, label: str, spec: dict, goal: str) -> None:
    """Score runs of new versions of `first`'s function with `spec` (raw values copied)."""
    n = PROMPTS * PER_PROMPT
    times = []
    for _ in range(REPEAT):
        version = reward_function_version_create(
            function=first.function, spec=spec, created_by=None
        )
        times.append(run_job(version, copy_only=True))
    rate = n / statistics.median(times)
    best = f", best {n / min(times):.0f}" if REPEAT > 1 else ""
    print(f"{label + ', score run:':36s}{rate:9.0f} responses/s ({goal}{best})")


def main() -> None:
    import torch

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
        if not ENCODE:
            first = reward_function_create(
                project=project, name="bench", spec=SPEC, created_by=None
            )
            run_job(first, stand_in=stand_in_values)
            print(f"{n} responses, first version scored with stand-in values (nothing encoded)")
            rescoring(first, "weights changed", REWEIGHTED, "goal ≥ 20,000; no model call")
            rescoring(first, "transforms fitted", TRANSFORMED, "no model call")
            return
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

        calls = encoder.calls
        rescoring(first, "weights changed", REWEIGHTED, "goal ≥ 20,000; no model call")
        rescoring(first, "transforms fitted", TRANSFORMED, "no model call")
        assert encoder.calls == calls

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
