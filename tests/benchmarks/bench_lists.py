"""The comparisons and labels pages on a big project: time and queries per page.

Run with Postgres at DATABASE_URL: `python tests/benchmarks/bench_lists.py [LABELS] [--keep]`
(default 100,000 labels). It creates a throw-away database (`--keep`: kept, and reused by
the next run with `--keep`), fills a project as bench_export.py does (3 labels per pair from
20 annotators, one prompt per pair), runs VACUUM ANALYZE, and requests each page through
Django's test client as a designer and as an annotator (who sees only their own labels).
For each URL it prints the median of 5 requests in milliseconds, the slowest, the number of
SQL statements and the rows shown.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from apps.accounts.models import Membership, Project, Role, User  # noqa: E402
from apps.accounts.services import project_create  # noqa: E402
from apps.annotation.models import Label  # noqa: E402
from tests.benchmarks.bench_export import fill  # noqa: E402

RUNS = 5


def measure(client: Client, url: str) -> None:
    times = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    rows = len(re.findall(rb'data-(?:label|comparison)="', response.content))
    print(f"  {url:<72} {statistics.median(times):7.1f} ms (max {max(times):6.1f}); "
          f"{len(queries):2d} queries; {rows:2d} rows")  # fmt: skip


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    keep = "--keep" in sys.argv
    sizes = [int(arg) for arg in sys.argv[1:] if arg != "--keep"]
    labels = sizes[0] if sizes else 100_000
    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = f"bench_lists_{connection.settings_dict['NAME']}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=keep, serialize=False)
    try:
        project = Project.objects.filter(name="bench lists").first()
        if project is None:
            owner = User.objects.create(username="bench")
            annotators = [User.objects.create(username=f"annotator{i}") for i in range(20)]
            project = project_create(name="bench lists", created_by=owner)
            Membership.objects.bulk_create(
                Membership(project=project, user=user, role=Role.ANNOTATOR) for user in annotators
            )
            started = time.perf_counter()
            fill(project, [user.pk for user in annotators], labels, seed=0)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            print(f"filled {labels} labels in {time.perf_counter() - started:.1f} s")
        owner = User.objects.get(username="bench")
        annotators = list(User.objects.filter(username__startswith="annotator").order_by("pk"))
        print(f"PostgreSQL {connection.pg_version}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}; {Label.objects.count()} labels")  # fmt: skip
        designer, annotator = Client(), Client()
        designer.force_login(owner)
        annotator.force_login(annotators[0])
        base = f"/projects/{project.slug}"
        print("designer:")
        for url in [
            f"{base}/comparisons/",
            f"{base}/comparisons/?page=300",
            f"{base}/comparisons/?needs_labels=false&sort=newest",
            f"{base}/comparisons/?model=model-1&is_gold=false",
            f"{base}/comparisons/?search=%5B1234%5D",
            f"{base}/labels/",
            f"{base}/labels/?page=1000",
            f"{base}/labels/?page=2000",
            f"{base}/labels/?annotator={annotators[3].pk}",
            f"{base}/labels/?choice=b&sort=slowest",
            f"{base}/labels/?current=false",
            f"{base}/labels/?model=model-0&is_gold=false",
            f"{base}/labels/?search=%5B1234%5D",
            f"{base}/labels/?since=2000-01-01&until=2100-01-01",
        ]:
            measure(designer, url)
        print("annotator (own labels only):")
        for url in [f"{base}/labels/", f"{base}/labels/?page=50", f"{base}/labels/?choice=a"]:
            measure(annotator, url)
    finally:
        if not keep:
            connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
