"""Export throughput and memory: labels to JSONL and Parquet through the real export path.

Run with Postgres at DATABASE_URL: `python tests/benchmarks/bench_export.py [LABELS ...]`
(default 60,000 and 300,000 labels; the issue's goal is stated for 1,000,000). It creates a
throw-away database, fills two projects (3 labels per pair, one prompt per pair), runs
`export_write` (what the worker runs) for `labels-raw` and `trl-preference` to JSONL and
Parquet, and prints rows per second and the peak growth of resident memory, so the two
sizes can be compared side by side: memory should not grow with the project.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from apps.accounts.models import Project, User  # noqa: E402
from apps.accounts.services import project_create  # noqa: E402
from apps.annotation.models import Comparison, Label  # noqa: E402
from apps.exports.options import ExportOptions  # noqa: E402
from apps.exports.outbox import DirectoryOutbox  # noqa: E402
from apps.exports.services import export_write  # noqa: E402
from apps.imports.copy import insert_rows  # noqa: E402
from apps.prompts.models import Prompt, Response  # noqa: E402
from tests.benchmarks.bench_import import PeakRss, _sentence  # noqa: E402

LABELS_PER_PAIR = 3
BATCH = 5000


def fill(project: Project, annotators: list[int], labels: int, seed: int) -> None:
    """One prompt with two responses and one pair per LABELS_PER_PAIR labels."""
    rng = random.Random(seed)
    pairs = labels // LABELS_PER_PAIR
    for start in range(0, pairs, BATCH):
        n = min(BATCH, pairs - start)
        with transaction.atomic():
            insert_rows(
                Prompt,
                ["project_id", "input", "references", "metadata", "group", "content_hash"],
                [(project.pk, f"[{i}] " + _sentence(rng, 20), [], {}, "", f"{project.pk}-{i}")
                 for i in range(start, start + n)],
            )  # fmt: skip
            prompt_ids = list(
                Prompt.objects.filter(project=project, pk__gt=_last(Prompt, project))
                .order_by("id")
                .values_list("id", flat=True)
            )
            insert_rows(
                Response,
                ["prompt_id", "text", "model", "sampling_params", "metadata", "content_hash"],
                [(p, f"({j}) " + _sentence(rng, 40), f"model-{j}", {}, {}, f"{p}-{j}")
                 for p in prompt_ids for j in range(2)],
            )  # fmt: skip
            responses = dict(
                Response.objects.filter(prompt_id__in=prompt_ids)
                .order_by("id")
                .values_list("prompt_id", "id")
            )
            insert_rows(
                Comparison,
                ["project_id", "prompt_id", "kind", "response_a_id", "response_b_id", "priority",
                 "labels_wanted", "labels_done", "is_gold", "gold_choice"],
                [(project.pk, p, "pair", responses[p] - 1, responses[p], 0, 3, 3, False, "")
                 for p in prompt_ids],
            )  # fmt: skip
            comparison_ids = Comparison.objects.filter(prompt_id__in=prompt_ids).values_list(
                "id", flat=True
            )
            insert_rows(
                Label,
                ["comparison_id", "annotator_id", "source", "choice", "strength", "ratings",
                 "spans", "ranking", "rationale", "shown_order", "seconds_spent", "metadata"],
                [(c, annotator, "annotator", rng.choice("aab"), rng.randrange(4), {}, [], [],
                  "", rng.choice(["ab", "ba"]), 12.0, {})
                 for c in comparison_ids
                 for annotator in rng.sample(annotators, LABELS_PER_PAIR)],
            )  # fmt: skip
        _LAST[project.pk] = prompt_ids[-1]


_LAST: dict[int, int] = {}


def _last(model: type[Prompt], project: Project) -> int:
    return _LAST.get(project.pk, 0)


def bench(project: Project, export_format: str, file_format: str, tmp: Path, label: str) -> None:
    names = {"train": f"{label}-{export_format}.{file_format}", "card": f"{label}.README.md"}
    with PeakRss() as memory:
        started = time.perf_counter()
        result = export_write(
            project=project,
            export_format=export_format,
            file_format=file_format,
            options=ExportOptions(),
            outbox=DirectoryOutbox(tmp, names),
            advance=lambda n: None,
        )
        elapsed = time.perf_counter() - started
    rows = result.row_counts["train"]
    size_mib = result.files[0]["size_bytes"] / 2**20
    print(
        f"{label:>6} {export_format:>14} {file_format:>7}: {rows:>8} rows ({size_mib:6.1f} MiB) "
        f"in {elapsed:6.2f} s = {rows / elapsed:8.0f} rows/s; "
        f"peak RSS growth {memory.growth_mib:6.1f} MiB"
    )


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    sizes = [int(arg) for arg in sys.argv[1:]] or [60_000, 300_000]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        owner = User.objects.create(username="bench")
        annotators = [User.objects.create(username=f"annotator{i}").pk for i in range(20)]
        print(f"PostgreSQL {connection.pg_version}, Python {sys.version.split()[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            for number, labels in enumerate(sizes):
                project = project_create(name=f"bench {labels}", created_by=owner)
                started = time.perf_counter()
                fill(project, annotators, labels, seed=number)
                print(f"filled {labels} labels in {time.perf_counter() - started:.1f} s")
                for export_format in ("labels-raw", "trl-preference"):
                    for file_format in ("jsonl", "parquet"):
                        bench(project, export_format, file_format, Path(tmp), str(labels))
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
