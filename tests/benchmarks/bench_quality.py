"""Agreement recompute time and memory: what the worker runs after new labels.

Run with Postgres at DATABASE_URL: `python tests/benchmarks/bench_quality.py [LABELS ...]`
(default 3,000, 30,000 and 150,000 labels). It creates a throw-away database, fills a
project per size (3 labels per pair from 20 annotators, one prompt per pair, prompts in
groups of 10, one pair in 50 gold), then times `agreement_compute` (agreement figures with
bootstrap intervals), `annotator_reports_compute` (consensus and per-annotator figures)
and the whole `agreement_refresh`, and prints the peak growth of resident memory.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.db.models.functions import Cast, Mod  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.accounts.services import project_create  # noqa: E402
from apps.annotation.models import Comparison  # noqa: E402
from apps.annotation.reports import agreement_refresh, annotator_reports_compute  # noqa: E402
from apps.annotation.review import agreement_compute  # noqa: E402
from apps.prompts.models import Prompt  # noqa: E402
from tests.benchmarks.bench_export import fill  # noqa: E402
from tests.benchmarks.bench_import import PeakRss  # noqa: E402


def timed(label: str, run) -> None:  # type: ignore[no-untyped-def]
    with PeakRss() as memory:
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
    print(f"  {label:<26} {elapsed:7.2f} s; peak RSS growth {memory.growth_mib:6.1f} MiB")


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    sizes = [int(arg) for arg in sys.argv[1:]] or [3_000, 30_000, 150_000]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        owner = User.objects.create(username="bench")
        annotators = [User.objects.create(username=f"annotator{i}").pk for i in range(20)]
        print(f"PostgreSQL {connection.pg_version}, Python {sys.version.split()[0]}")
        # Load scipy and krippendorff once, so the first size is not charged for imports.
        from scipy.stats import binomtest  # noqa: F401

        for number, labels in enumerate(sizes):
            project = project_create(name=f"bench {labels}", created_by=owner)
            started = time.perf_counter()
            fill(project, annotators, labels, seed=number)
            Prompt.objects.filter(project=project).update(
                group=Cast(Mod(F("id"), max(labels // 30, 1)), output_field=Prompt.group.field)
            )
            Comparison.objects.filter(project=project, id__in=Comparison.objects.filter(
                project=project).annotate(m=Mod(F("id"), 50)).filter(m=0).values("id")
            ).update(is_gold=True, gold_choice="a")  # fmt: skip
            print(f"{labels} labels (filled in {time.perf_counter() - started:.1f} s):")
            timed("agreement figures", lambda project=project: agreement_compute(project=project))
            timed("annotator reports",
                  lambda project=project: annotator_reports_compute(project=project))  # fmt: skip
            timed("refresh (both, stored)",
                  lambda project=project: agreement_refresh(project_id=project.pk))  # fmt: skip
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
