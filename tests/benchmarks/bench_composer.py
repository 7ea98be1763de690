"""Composer responsiveness: what one keystroke or click costs the server.

Run with `python tests/benchmarks/bench_composer.py` (Postgres at DATABASE_URL; it uses a
throw-away database). In-process through Django's test client (no network), with a
draft of 20 components (each kind, with transforms), it prints median and p95 server
time and SQL statements for:

- the formula check (called as the designer types, 250 ms after the last key);
- a composer action (add a component: parse the whole form, re-render the form);
- the composer page itself, and saving the draft as a new version;
- the worker's part of "try it" for text components (`score_draft_compute` with the
  real engine, no model), per pasted item.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts.models import Membership, Project, Role, User  # noqa: E402
from apps.rewards.composer import ComposerDraft  # noqa: E402
from apps.rewards.services import reward_function_create, score_draft_compute  # noqa: E402
from workers.contracts import ScoreItem  # noqa: E402

KINDS = [
    {"type": "contains", "substrings": ["[1]", "[2]"]},
    {"type": "regex", "pattern": "(?i)as an ai", "match": -1.0},
    {"type": "length_penalty", "target": 150, "tolerance": 50},
    {"type": "json_valid", "schema": {"type": "object"}},
    {"type": "text_metric", "metric": "rouge_l"},
]
SPEC = {
    "components": [{"name": f"c{i}", **KINDS[i % len(KINDS)]} for i in range(20)],
    "transforms": {f"c{i}": [{"clip": {"low": -1, "high": 1}}] for i in range(0, 20, 3)},
    "combine": {"op": "weighted_sum", "weights": {f"c{i}": 1.0 for i in range(20)}},
}


def form_of(spec: dict, **extra: str) -> dict[str, object]:
    """The POST the composer page sends for this spec (what the browser would submit)."""
    draft = ComposerDraft.from_spec(spec)
    data: dict[str, object] = {"combine-op": draft.op, "combine-expression": draft.expression}
    for i, row in enumerate(draft.components):
        data[f"c-{i}-type"], data[f"c-{i}-name"], data[f"c-{i}-weight"] = (
            row.type, row.name, row.weight,
        )  # fmt: skip
        for bound in row.fields:
            if bound.spec.kind == "flags":
                data[bound.input_name] = [v for v in bound.chosen if v]
            elif bound.spec.kind != "boolean" or bound.text:
                data[bound.input_name] = bound.text
        for step in row.transforms:
            data[f"{step.prefix}-kind"] = step.kind
            for bound in step.fields:
                data[bound.input_name] = bound.text
    return {**data, **extra}


def encoded(data: dict[str, object]) -> str:
    """A urlencoded body, as htmx sends a form (the test client would use multipart)."""
    return urlencode(data, doseq=True)


def timed(label: str, call, runs: int) -> None:  # type: ignore[no-untyped-def]
    call()  # warm caches and templates
    times, statements = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = call()
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 302), (label, response.status_code)
        statements = len(queries)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{label:<44} median {statistics.median(times):7.2f} ms  p95 {p95:7.2f} ms  "
          f"{statements:3d} SQL  ({runs} runs)")  # fmt: skip


def main() -> None:
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    try:
        project = Project.objects.create(name="Bench composer", slug="bench-composer")
        user = User.objects.create_user(username="bench-designer", password="x")
        Membership.objects.create(project=project, user=user, role=Role.DESIGNER)
        version = reward_function_create(project=project, name="r", spec=SPEC, created_by=user)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        base = f"/projects/{project.slug}/rewards"
        names = " + ".join(f"c{i}" for i in range(20))
        formula = encoded(form_of(SPEC, **{"combine-op": "formula", "combine-expression": names}))
        add = encoded(form_of(SPEC, action="add", **{"new-component": "regex"}))
        save = encoded(form_of(SPEC, action="save", **{"version-message": "bench"}))
        form = "application/x-www-form-urlencoded"
        hx = {"HTTP_HX_REQUEST": "true"}
        fields = save.count("&") + 1
        print(f"Draft: {len(SPEC['components'])} components, {fields} form fields, urlencoded")
        timed(
            "formula check (each keystroke)",
            lambda: client.post(f"{base}/formula/", formula, form, **hx),
            200,
        )
        timed(
            "composer action: add a component",
            lambda: client.post(f"{base}/{version.function_id}/compose/", add, form, **hx),
            50,
        )
        timed(
            "composer page (GET)", lambda: client.get(f"{base}/{version.function_id}/compose/"), 50
        )
        timed(
            "save as a new version",
            lambda: client.post(f"{base}/{version.function_id}/compose/", save, form),
            20,
        )

        from apps.rewards.services import draft_version, scoring_resources
        from workers.ml.scoring import Scorer

        draft = draft_version(project_id=project.pk, spec=SPEC)
        scorer = Scorer(draft.parsed_spec, scoring_resources(version=draft))
        item = [ScoreItem("Explain gradients.", "As an AI, gradients [1] point uphill. " * 20,
                          "Gradients point uphill.")]  # fmt: skip
        runs, start = 200, time.perf_counter()
        for _ in range(runs):
            score_draft_compute(
                project_id=project.pk, spec=SPEC, items=item, compute=scorer.component_values
            )
        per = (time.perf_counter() - start) * 1000 / runs
        label = "try it, worker compute (20 text components)"
        print(f"{label:<44} {per:7.2f} ms per item ({runs} runs)")
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
