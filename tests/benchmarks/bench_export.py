"""Export throughput and memory: labels to JSONL and Parquet through the real export path.

Run with Postgres at DATABASE_URL: `python tests/benchmarks/bench_export.py [LABELS ...]`
(default 60,000 and 300,000 labels; the issue's goal is stated for 1,000,000). It creates a
throw-away database, fills projects (3 labels per pair, one prompt per pair) and runs
VACUUM ANALYZE, as autovacuum does after so many inserts (before anyone exports them, in
a real project: the first read of fresh rows also writes their hint bits). Each export
starts after a CHECKPOINT and a sync (`settle`): the fill's and the last export's writes
are not left to slow the next export down. It prints:

- the writers alone: one labels-raw-shaped row written N times (serialisation and disk);
- end to end through the worker path: `export_run` (the body of the `run_export` task:
  claim, stream, progress updates, storage outbox, card) for `labels-raw` (one row per
  label) and `trl-preference` (one row per pair) to JSONL and Parquet.

Each line gives rows per second of wall time, labels read per second, the worker's CPU
seconds (wall time on a busy machine includes waiting for a core), and peak resident
memory of the process (absolute, and its growth during the run), so sizes can be compared
side by side: memory should not grow with the project.

Each export runs in a fresh process that loads what a Celery worker loads (the Celery
app, its task modules, the URL configuration its start-up checks import), so its memory
is a worker's, not this process's (which has filled the database and run the writers):
`--in-process` runs them here instead, as this benchmark did before.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
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
from apps.exports.services import export_create, export_run  # noqa: E402
from apps.exports.writers import open_writer  # noqa: E402
from apps.imports.copy import insert_rows  # noqa: E402
from apps.prompts.models import Prompt, Response  # noqa: E402
from tests.benchmarks.bench_import import PeakRss, _rss_bytes, _sentence  # noqa: E402

LABELS_PER_PAIR = 3
BATCH = 5000
IN_PROCESS = False


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


def _line(label: str, what: str, rows: int, labels: int, elapsed: float, cpu: float,
          memory: PeakRss, size_bytes: int, kernel: float | None = None) -> None:  # fmt: skip
    """One measurement; `kernel`: the part of the CPU time spent in the kernel (writing the
    file, reading the database's socket)."""
    in_kernel = "" if kernel is None else f", {kernel:5.2f} in the kernel"
    print(
        f"{label:>8} {what:>24}: {rows:>8} rows ({size_bytes / 2**20:6.1f} MiB) in "
        f"{elapsed:6.2f} s = {rows / elapsed:8.0f} rows/s, {labels / elapsed:8.0f} labels/s; "
        f"CPU {cpu:6.2f} s{in_kernel} ({rows / cpu:8.0f} rows/CPU-s); "
        f"peak RSS {memory.peak / 2**20:6.1f} MiB (+{memory.growth_mib:5.1f})",
        flush=True,
    )


def bench_writer(file_format: str, rows: int, tmp: Path) -> None:
    """The writer alone: a labels-raw-shaped row, `rows` times."""
    from apps.exports.formats import LabelsRaw, Scope

    row = {
        "label_id": 123456, "comparison_id": 65432, "kind": "pair", "is_gold": False,
        "prompt_id": 4321, "prompt": "[4321] " + " ".join(["word"] * 20),
        "response_ids": [8641, 8642],
        "responses": ["(0) " + " ".join(["answer"] * 40), "(1) " + " ".join(["reply"] * 40)],
        "annotator": "annotator-0123456789abcdef", "source": "annotator", "choice": "a",
        "strength": 2, "strength_label": "clearly better", "ranking": [], "ratings": [],
        "spans": [], "rationale": "", "shown_order": "ab", "seconds_spent": 12.0,
        "rubric_version_id": None, "created_at": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    scope = Scope.__new__(Scope)
    scope.conversational = False
    columns = LabelsRaw().columns(scope)
    path = tmp / f"writer.{file_format}"
    with PeakRss() as memory:
        started, cpu = time.perf_counter(), time.process_time()
        writer = open_writer(file_format, path, columns)
        for _ in range(rows):
            writer.write(row)
        writer.close()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    _line("writer", f"labels-raw {file_format}", rows, rows, elapsed, cpu, memory,
          path.stat().st_size)  # fmt: skip
    path.unlink()


def settle() -> None:
    """Start a measurement on a settled machine: Postgres' dirty pages (the fill's) and
    the files already written (the last export's) go to disk first, so the export does
    not share the disk and the CPUs with their write-back."""
    from django.db import DatabaseError

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as error:  # a role without pg_checkpoint: the sync still helps
        print(f"    (no CHECKPOINT: {error})".rstrip())
    os.sync()
    time.sleep(1)


def bench(project: Project, export_format: str, file_format: str, labels: int) -> None:
    """End to end through the worker's function, files published to MEDIA_ROOT."""
    from django.conf import settings

    settle()
    export = export_create(
        project=project, user=None, export_format=export_format, file_format=file_format,
        options=ExportOptions(), enqueue=False,
    )  # fmt: skip
    kernel = None
    if IN_PROCESS:
        with PeakRss() as memory:
            started, cpu = time.perf_counter(), time.process_time()
            export = export_run(export_id=export.pk)  # type: ignore[assignment]
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    else:
        child = subprocess.run(
            [sys.executable, __file__, "--worker", str(export.pk),
             connection.settings_dict["NAME"], str(settings.MEDIA_ROOT)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        measured = json.loads(child.stdout.splitlines()[-1])
        elapsed, cpu, kernel = measured["elapsed"], measured["cpu"], measured["kernel"]
        memory = PeakRss()
        memory.baseline, memory.peak = measured["baseline"], measured["peak"]
        export.refresh_from_db()
    assert export.status == "succeeded", export.error
    _line(str(labels), f"{export_format} {file_format}", export.row_counts["train"], labels,
          elapsed, cpu, memory, export.files[0]["size_bytes"], kernel)  # fmt: skip


def worker(export_id: int, database: str, media_root: str) -> None:
    """Run one export as a worker process would, and print what it took (JSON)."""
    from django.conf import settings
    from django.urls import get_resolver

    from config.celery import app

    connection.settings_dict["NAME"] = database
    settings.MEDIA_ROOT = Path(media_root)
    app.loader.import_default_modules()  # the task modules, as the worker loads them
    get_resolver().url_patterns  # noqa: B018  (the worker's start-up checks load the URLs)
    with PeakRss() as memory:
        started, cpu = time.perf_counter(), time.process_time()
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        export_run(export_id=export_id)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
    print(json.dumps({"elapsed": elapsed, "cpu": cpu, "kernel": kernel,
                      "baseline": memory.baseline, "peak": memory.peak}))  # fmt: skip


def main() -> None:
    from django.conf import settings

    global IN_PROCESS

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    IN_PROCESS = "--in-process" in sys.argv
    sizes = [int(arg) for arg in sys.argv[1:] if arg != "--in-process"] or [60_000, 300_000]
    # Its own database: the test suite's (test_<name>) may be in use at the same time.
    connection.settings_dict["TEST"]["NAME"] = f"bench_export_{connection.settings_dict['NAME']}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    try:
        owner = User.objects.create(username="bench")
        annotators = [User.objects.create(username=f"annotator{i}").pk for i in range(20)]
        print(f"PostgreSQL {connection.pg_version}, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
              f"RSS at start {_rss_bytes() / 2**20:.1f} MiB")  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            settings.MEDIA_ROOT = Path(tmp) / "media"
            for file_format in ("jsonl", "parquet"):
                bench_writer(file_format, max(sizes), Path(tmp))
            for number, labels in enumerate(sizes):
                project = project_create(name=f"bench {labels}", created_by=owner)
                started = time.perf_counter()
                fill(project, annotators, labels, seed=number)
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE")
                print(f"filled {labels} labels in {time.perf_counter() - started:.1f} s")
                for export_format in ("labels-raw", "trl-preference"):
                    for file_format in ("jsonl", "parquet"):
                        bench(project, export_format, file_format, labels)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
