"""What a training run costs the web and the worker before any training: the snapshot.

Run with Postgres at DATABASE_URL: `python tests/benchmarks/bench_training_runs.py [PAIRS ...]`
(default 20,000 pairs, 3 labels each, the size of the issue's head benchmark). It creates
a throw-away database, fills a project the way bench_export.py does, and prints the time
of `training_run_create` (what POST /training-runs/ runs: consensus over every current
label, the split, the row), the stored snapshot's size, and the time the worker takes to
turn the snapshot into the engine's pairs with their texts (`snapshot_pairs`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.accounts.services import project_create  # noqa: E402
from apps.reward_models.services import training_run_create  # noqa: E402
from apps.reward_models.snapshot import snapshot_pairs  # noqa: E402
from tests.benchmarks.bench_export import LABELS_PER_PAIR, fill  # noqa: E402
from tests.benchmarks.bench_import import PeakRss  # noqa: E402
from workers.training.settings import TrainingSettings  # noqa: E402


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    sizes = [int(arg) for arg in sys.argv[1:]] or [20_000]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        owner = User.objects.create(username="bench")
        annotators = [User.objects.create(username=f"annotator{i}").pk for i in range(20)]
        print(f"PostgreSQL {connection.pg_version}, Python {sys.version.split()[0]}")
        for number, pairs in enumerate(sizes):
            project = project_create(name=f"bench {pairs}", created_by=owner)
            fill(project, annotators, pairs * LABELS_PER_PAIR, seed=number)
            for rule in ("majority", "dawid_skene"):
                project.annotation_settings = {**project.annotation_settings, "consensus": rule}
                project.save(update_fields=["annotation_settings"])
                with PeakRss() as memory:
                    started = time.perf_counter()
                    run = training_run_create(
                        project=project, user=owner, settings=TrainingSettings(), enqueue=False
                    )
                    created = time.perf_counter() - started
                size_mib = len(json.dumps(run.snapshot)) / 2**20
                started = time.perf_counter()
                loaded = snapshot_pairs(run.snapshot)
                loading = time.perf_counter() - started
                print(
                    f"{pairs:>7} pairs, {rule:>11}: create {created:6.2f} s "
                    f"(peak RSS growth {memory.growth_mib:6.1f} MiB), "
                    f"snapshot {size_mib:5.2f} MiB, "
                    f"{run.train_pairs} train / {run.validation_pairs} validation pairs; "
                    f"worker loads {len(loaded)} pairs with texts in {loading:5.2f} s"
                )
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
