"""Inspection cost: 10,000 responses, 5,000 compared pairs, 15,000 labels.

Run with `python tests/benchmarks/bench_inspection.py` (Postgres at DATABASE_URL; it
uses a throw-away database). Text-only components (regex, contains, length, BLEU), so
the numbers are the inspector's own work, not an encoder's. Prints, from one run:

- the first inspection end to end, through the code the Celery task runs
  (`inspection_execute` with the real engine), which scores the project first;
- a recompute once scores exist (the common case: new labels, same version);
- the peak resident memory of the process and the size of the stored result;
- rendering the inspector page with that result (server side, the Django test client).
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import Membership, Project, User  # noqa: E402
from apps.annotation.models import Comparison, Label  # noqa: E402
from apps.prompts.hashing import prompt_hash, response_hash  # noqa: E402
from apps.prompts.models import Prompt, Response  # noqa: E402
from apps.rewards.inspection.services import (  # noqa: E402
    inspection_claim,
    inspection_create,
    inspection_execute,
)
from apps.rewards.models import Inspection, RewardFunctionVersion  # noqa: E402
from apps.rewards.services import reward_function_create, scoring_resources  # noqa: E402

PROMPTS, PER_PROMPT, GROUP_SIZE, ANNOTATORS = 2_500, 4, 5, 3
WORDS = [
    "model", "reward", "policy", "answer", "question", "explain", "careful", "helpful",
    "honest", "gradient", "preference", "label", "annotator", "rubric", "token", "sample",
    "batch", "context", "length", "summary", "python", "function", "return", "value",
    "error", "example", "because", "therefore", "however", "as", "an", "AI", "[1]",
]  # fmt: skip
SPEC = {
    "components": [
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0},
        {"name": "cites", "type": "contains", "substrings": ["[1]"]},
        {"name": "len", "type": "length_penalty", "unit": "words", "target": 25,
         "tolerance": 10},
    ],
    "combine": {"op": "weighted_sum",
                "weights": {"bleu": 1.0, "apology": 1.0, "cites": 0.5, "len": 0.3}},
}  # fmt: skip


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_project() -> tuple[Project, User]:
    rng = random.Random(0)
    project = Project.objects.create(name="bench inspection", slug="bench-inspection")
    designer = User.objects.create_user(username="bench-designer", password="x")
    Membership.objects.create(project=project, user=designer, role="designer")
    people = [User.objects.create_user(username=f"bench-{i}") for i in range(ANNOTATORS)]
    prompts = []
    for i in range(PROMPTS):
        text = f"[{i}] " + _sentence(rng, 12)
        reference = f"({i}) " + _sentence(rng, 22)
        prompts.append(Prompt(project=project, input=text, references=[reference],
                              group=f"g{i // GROUP_SIZE}",
                              content_hash=prompt_hash(text)))  # fmt: skip
    Prompt.objects.bulk_create(prompts, batch_size=2000)
    responses = []
    for prompt in prompts:
        for j in range(PER_PROMPT):
            text = f"<{prompt.pk}.{j}> " + _sentence(rng, rng.randint(12, 36))
            responses.append(Response(prompt=prompt, text=text, content_hash=response_hash(text)))
    Response.objects.bulk_create(responses, batch_size=2000)
    comparisons = []
    for k in range(0, len(responses), PER_PROMPT):
        for a, b in ((k, k + 1), (k + 2, k + 3)):
            comparisons.append(
                Comparison(project=project, prompt_id=responses[a].prompt_id,
                           response_a=responses[a], response_b=responses[b])
            )  # fmt: skip
    Comparison.objects.bulk_create(comparisons, batch_size=2000)
    labels = []
    for comparison in comparisons:
        longer_a = len(comparison.response_a.text) >= len(comparison.response_b.text)
        for person in people:
            # People mostly prefer the longer answer, with noise.
            choice = ("a" if longer_a else "b") if rng.random() < 0.7 else rng.choice("ab")
            ratings = {str(comparison.response_a_id): {"clarity": rng.randint(1, 5)},
                       str(comparison.response_b_id): {"clarity": rng.randint(1, 5)}}  # fmt: skip
            labels.append(Label(comparison=comparison, annotator=person, choice=choice,
                                ratings=ratings))  # fmt: skip
    Label.objects.bulk_create(labels, batch_size=2000)
    return project, designer


def run(version: RewardFunctionVersion) -> tuple[float, Inspection]:
    from workers.ml.scoring import Scorer

    created = inspection_create(version=version, created_by=None, enqueue=False)
    started = time.perf_counter()
    claimed = inspection_claim(inspection_id=created.pk)
    assert claimed is not None
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
    done = inspection_execute(inspection=claimed, compute=scorer.component_values)
    elapsed = time.perf_counter() - started
    assert done.status == "succeeded", done.error
    return elapsed, done


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    name = f"bench_inspection_{connection.settings_dict['NAME']}"
    connection.settings_dict["TEST"]["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    try:
        project, designer = make_project()
        version = reward_function_create(project=project, name="bench", spec=SPEC, created_by=None)
        n = Response.objects.filter(prompt__project=project).count()
        labels = Label.objects.filter(comparison__project=project).count()
        print(f"{n} responses, {Comparison.objects.count()} pairs, {labels} labels, "
              f"{len(SPEC['components'])} text components")  # fmt: skip

        elapsed, done = run(version)
        result = done.result
        print(f"first inspection (scores the project too): {elapsed:6.2f} s")
        if os.environ.get("PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            run(version)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        elapsed, done = run(version)
        print(f"recompute, scores stored:                   {elapsed:6.2f} s")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = len(json.dumps(result)) / 1024
        print(f"peak resident memory of the process:        {rss:6.0f} MB")
        print(f"stored result:                              {size:6.0f} KB")
        print(f"  preferences {result['computed_on']['preferences']}, accuracy "
              f"{result['accuracy']['overall']['value']:.3f}, ceiling "
              f"{result['ceiling']['value']:.3f}, probed {result['probed']}")  # fmt: skip

        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        client = Client()
        client.force_login(designer)
        url = f"/projects/{project.slug}/inspector/versions/{version.pk}/"
        client.get(url)
        started = time.perf_counter()
        for _ in range(5):
            response = client.get(url)
        assert response.status_code == 200
        page_ms = (time.perf_counter() - started) / 5 * 1000
        print(f"inspector page render (server):             {page_ms:6.0f} ms "
              f"({len(response.content) / 1024:.0f} KB of HTML)")  # fmt: skip
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
