"""Import throughput and memory: 25,000 prompts × 4 responses through the real import path.

Run with `make bench` (Postgres at DATABASE_URL). It creates a throw-away database,
generates JSONL files of two sizes, imports each with `import_create` + `import_run`
(what the Celery task runs) and prints responses per second and the peak growth of
resident memory during each import, so the two sizes can be compared side by side.

Then hostile files (issue 17): one unterminated JSONL line of 64 and 300 MiB, a CSV
whose quote opens on row 2 and never closes before 300 MiB of rows, a Parquet file of a
few KiB that unpacks to 300 MiB, and one that repeats a 4 MiB value in 2,048 rows (8 GiB
once read). Each must fail fast, in bounded memory: it prints how long the worker spent
on each and its peak RSS growth.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from django.core.files import File  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.accounts.services import project_create  # noqa: E402
from apps.imports.services import import_create, import_run  # noqa: E402

WORDS = [
    "model", "reward", "policy", "answer", "question", "explain", "careful", "helpful",
    "honest", "gradient", "preference", "label", "annotator", "rubric", "token", "sample",
    "batch", "context", "length", "summary", "python", "function", "return", "value",
    "error", "example", "because", "therefore", "however",
]  # fmt: skip


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_file(path: Path, prompts: int, per_prompt: int = 4, seed: int = 0) -> int:
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(prompts):
            row = {
                "prompt": f"[{i}] " + _sentence(rng, 20),
                "responses": [
                    {
                        "text": f"({j}) " + " ".join(_sentence(rng, 15) for _ in range(4)),
                        "model": f"model-{j}",
                        "sampling_params": {"temperature": 0.7},
                    }
                    for j in range(per_prompt)
                ],
                "metadata": {"kind": rng.choice(["coding", "math", "advice"])},
                "group": f"g{i % 500}",
            }
            out.write(json.dumps(row) + "\n")
    return prompts * per_prompt


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples resident memory every 20 ms while the block runs."""

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


def bench(user: User, path: Path, responses: int, label: str) -> None:
    project = project_create(name=f"bench {label}", created_by=user)
    with path.open("rb") as handle:
        started = time.perf_counter()
        job = import_create(
            project=project, created_by=user, upload=File(handle, name=path.name),
            enforce_size_limit=False, enqueue=False,
        )  # fmt: skip
        stored = time.perf_counter() - started
    with PeakRss() as memory:
        started = time.perf_counter()
        job = import_run(job_id=job.pk)
        elapsed = time.perf_counter() - started
    assert job is not None
    assert job.status == "succeeded", job.errors
    assert job.responses_created == responses
    size_mib = path.stat().st_size / 2**20
    print(
        f"{label:>6}: {responses:>7} responses ({size_mib:6.1f} MiB) imported in {elapsed:6.2f} s "
        f"= {responses / elapsed:8.0f} responses/s; peak RSS growth {memory.growth_mib:6.1f} MiB "
        f"(storing the upload took {stored:.2f} s)"
    )


def write_hostile(tmp: Path) -> list[Path]:
    mib = 2**20
    line64, line300 = tmp / "line64.jsonl", tmp / "line300.jsonl"
    for path, size in ((line64, 64 * mib), (line300, 300 * mib)):
        with path.open("wb") as out:
            out.write(b'{"prompt": "')
            for _ in range(size // mib):
                out.write(b"a" * mib)
    quote = tmp / "open_quote.csv"
    with quote.open("wb") as out:
        out.write(b'prompt,response,model\nHi,Hello,m1\n"unclosed quote,resp,m1\n')
        block = b"".join(b"Question %d?,Answer.,m1\n" % i for i in range(40_000))
        while out.tell() < 300 * mib:
            out.write(block)
    bomb = tmp / "bomb.parquet"
    table = pa.table({"prompt": ["a" * (300 * mib)], "chosen": ["x"], "rejected": ["y"]})
    pq.write_table(table, bomb, compression="zstd", use_dictionary=False)
    # One 4 MiB prompt stored once and repeated in 2,048 rows: 8 GiB once read.
    repeat = tmp / "repeat.parquet"
    prompt = "a" * (4 * mib)
    rows = [{"prompt": prompt, "responses": [{"text": f"ok {i}"}]} for i in range(2048)]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, repeat, compression="zstd", dictionary_pagesize_limit=16 * mib)
    return [line64, line300, quote, bomb, repeat]


def bench_hostile(user: User, path: Path) -> None:
    project = project_create(name=f"bench {path.name}", created_by=user)
    with path.open("rb") as handle:
        job = import_create(
            project=project, created_by=user, upload=File(handle, name=path.name),
            enforce_size_limit=False, enqueue=False,
        )  # fmt: skip
    with PeakRss() as memory:
        started = time.perf_counter()
        job = import_run(job_id=job.pk)
        elapsed = time.perf_counter() - started
    assert job is not None
    assert job.status == "failed"
    size = path.stat().st_size
    shown = f"{size / 2**20:6.1f} MiB" if size > 2**20 else f"{size / 1024:6.1f} KiB"
    print(
        f"{path.name:>16} ({shown}): failed in {elapsed:6.3f} s, peak RSS growth "
        f"{memory.growth_mib:6.1f} MiB: {job.errors[0][:110]}"
    )
    job.file.delete(save=False)  # hundreds of MiB, of no use once measured


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        user = User.objects.create(username="bench")
        with tempfile.TemporaryDirectory() as tmp:
            small, large = Path(tmp) / "small.jsonl", Path(tmp) / "large.jsonl"
            small_n = write_file(small, 6_250, seed=1)
            large_n = write_file(large, 25_000, seed=2)
            print(f"PostgreSQL {connection.pg_version}, Python {sys.version.split()[0]}")
            bench(user, small, small_n, "small")
            bench(user, large, large_n, "large")
            for path in write_hostile(Path(tmp)):
                bench_hostile(user, path)
                path.unlink()
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
