"""Annotation throughput and latency: simulated annotators doing next → submit over HTTP.

Run with `make bench` (Postgres at DATABASE_URL). It creates a throw-away database,
starts the app on it as the web container does (`deploy/web.py`: Granian, DEBUG off), and for
8 and then 32 concurrent annotators, each with its own API token and keep-alive
connection, runs `POST comparisons/next/` then `POST comparisons/{id}/labels/` for a
fixed number of judgments (`BENCH_ROUNDS=8` runs only the first round). One submit in
twenty is sent twice, as a network retry would.
It prints judgments per second, p50/p95/p99 latency of each call and of next+submit,
the SQL statements one next and one submit take, and a final check that every
acknowledged submit is in the database exactly once.

Label Studio 1.23.2 on Postgres, measured the same way on this kind of machine: about
6 annotations/s with one client and 19/s with 8, p95 about 640 ms, 62 SQL statements
per annotation.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts.models import Membership, Project, Role, User  # noqa: E402
from apps.accounts.services import token_issue  # noqa: E402
from apps.annotation.models import Label  # noqa: E402
from apps.annotation.services import comparisons_generate  # noqa: E402
from apps.prompts.models import Prompt, Response  # noqa: E402

PORT = 8765
JUDGMENTS_PER_ANNOTATOR = {8: 100, 32: 40}
RETRY_SHARE = 0.05


def make_project(name: str, prompts: int) -> Project:
    project = Project.objects.create(name=name, slug=name)
    rows = Prompt.objects.bulk_create(
        Prompt(
            project=project,
            input=f"Question {i}: explain the idea in two lines.",
            content_hash=f"{name}-{i}",
        )  # fmt: skip
        for i in range(prompts)
    )
    Response.objects.bulk_create(
        Response(
            prompt=prompt,
            text=f"Answer {side} to question {prompt.pk}. " * 20,
            model=f"model-{side}",
            content_hash=f"{prompt.pk}-{side}",
        )  # fmt: skip
        for prompt in rows
        for side in "xy"
    )
    comparisons_generate(project=project)
    return project


def make_annotators(project: Project, count: int) -> list[tuple[User, str]]:
    people = []
    for i in range(count):
        user, _ = User.objects.get_or_create(username=f"annotator{i}")
        Membership.objects.get_or_create(project=project, user=user, role=Role.ANNOTATOR)
        people.append((user, token_issue(user=user).key))
    return people


class Annotator(threading.Thread):
    """One person labelling: next → submit, on one keep-alive connection."""

    def __init__(self, project_id: int, token: str, judgments: int, start: threading.Barrier):
        super().__init__(daemon=True)
        self.project_id, self.token, self.judgments, self.start_line = (
            project_id, token, judgments, start,
        )  # fmt: skip
        self.rng = random.Random(token)
        self.next_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.pair_ms: list[float] = []
        self.acknowledged: set[str] = set()
        self.replays = 0
        self.errors: list[str] = []

    def call(self, conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
        conn.request(
            "POST", path, json.dumps(body),
            {"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.start_line.wait()
        for _ in range(self.judgments):
            started = time.perf_counter()
            status, item = self.call(
                conn, f"/api/v1/projects/{self.project_id}/comparisons/next/", {}
            )
            leased = time.perf_counter()
            if status == 204:
                break
            if status != 200:
                self.errors.append(f"next {status}: {item}")
                break
            body = {
                "idempotency_key": uuid.uuid4().hex,
                "choice": self.rng.choice(["a", "b", "a", "b", "tie"]),
                "seconds_spent": self.rng.uniform(5, 60),
            }
            if body["choice"] != "tie":
                body["strength"] = self.rng.randrange(4)
            path = f"/api/v1/comparisons/{item['comparison']}/labels/"
            status, label = self.call(conn, path, body)
            done = time.perf_counter()
            if status != 201:
                self.errors.append(f"submit {status}: {label}")
                break
            self.acknowledged.add(body["idempotency_key"])
            if self.rng.random() < RETRY_SHARE:
                status, again = self.call(conn, path, body)
                self.replays += 1
                if status != 200 or again["id"] != label["id"]:
                    self.errors.append(f"replay {status}: {again}")
            self.next_ms.append((leased - started) * 1000)
            self.submit_ms.append((done - leased) * 1000)
            self.pair_ms.append((done - started) * 1000)
        conn.close()


class CpuTicks(dict[str, int]):
    """CPU time (clock ticks) by who spent it: the machine, the web server's processes,
    PostgreSQL's, and this process (the simulated annotators)."""

    def __sub__(self, other: CpuTicks) -> CpuTicks:  # type: ignore[override]
        return CpuTicks({key: value - other.get(key, 0) for key, value in self.items()})

    def __str__(self) -> str:
        machine = self["machine"] or 1
        share = {
            key: 100 * self[key] / machine for key in ("busy", "server", "postgres", "clients")
        }
        return (f"machine {share['busy']:.0f}% busy; of it the web server "
                f"{share['server']:.0f}%, PostgreSQL {share['postgres']:.0f}%, the simulated "
                f"annotators {share['clients']:.0f}% (of {os.cpu_count()} CPUs)")  # fmt: skip


SERVER_GROUP: list[int] = []  # the web server's process group, once started


def _ticks(pid: str) -> tuple[str, int, int] | None:
    """(command name, process group, user + system ticks) of a process; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    name, fields = (
        text[text.index("(") + 1 : text.rindex(")")],
        text[text.rindex(")") + 2 :].split(),
    )
    return name, int(fields[2]), int(fields[11]) + int(fields[12])


def cpu_split() -> CpuTicks:
    with open("/proc/stat") as stat:
        machine = [int(n) for n in stat.readline().split()[1:9]]
    ticks = CpuTicks(machine=sum(machine), busy=sum(machine) - machine[3] - machine[4],
                     server=0, postgres=0, clients=0)  # fmt: skip
    for pid in filter(str.isdigit, os.listdir("/proc")):
        found = _ticks(pid)
        if found is None:
            continue
        name, group, spent = found
        if SERVER_GROUP and group == SERVER_GROUP[0]:
            ticks["server"] += spent
        elif name.startswith("postgres"):
            ticks["postgres"] += spent
        elif int(pid) == os.getpid():
            ticks["clients"] += spent
    return ticks


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def run_round(count: int) -> None:
    per = JUDGMENTS_PER_ANNOTATOR[count]
    project = make_project(f"bench-{count}", prompts=count * per)  # overlap 3: room to spare
    people = make_annotators(project, count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    start = threading.Barrier(count + 1)
    threads = [Annotator(project.pk, token, per, start) for _, token in people]
    for thread in threads:
        thread.start()
    start.wait()
    cpu_before = cpu_split()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = cpu_split() - cpu_before

    errors = [error for thread in threads for error in thread.errors]
    acknowledged = set().union(*(thread.acknowledged for thread in threads))
    stored = list(
        Label.objects.filter(comparison__project=project).values_list("idempotency_key", flat=True)
    )
    exactly_once = sorted(stored) == sorted(acknowledged) and len(stored) == len(set(stored))
    judged = sum(len(thread.pair_ms) for thread in threads)
    replays = sum(thread.replays for thread in threads)

    def line(name: str, values: list[float]) -> str:
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        return f"    {name:<14} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   p99 {p99:6.1f} ms"

    print(f"{count} annotators × {per} judgments: {judged} judgments in {elapsed:.1f} s "
          f"= {judged / elapsed:.0f} judgments/s ({replays} retried submits)")  # fmt: skip
    print(line("next", [v for t in threads for v in t.next_ms]))
    print(line("submit", [v for t in threads for v in t.submit_ms]))
    print(line("next+submit", [v for t in threads for v in t.pair_ms]))
    print(f"    every acknowledged submit stored exactly once: {exactly_once} "
          f"({len(acknowledged)} acknowledged, {len(stored)} labels); "
          f"errors: {len(errors)}")  # fmt: skip
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    print(f"    CPU during the round: {cpu}; per judgment: web server "
          f"{cpu['server'] * tick_ms / judged:.2f} ms, PostgreSQL "
          f"{cpu['postgres'] * tick_ms / judged:.2f} ms")  # fmt: skip
    for error in errors[:5]:
        print("     ", error)


def count_statements() -> None:
    project = make_project("bench-sql", prompts=10)
    (user, token), *_ = make_annotators(project, 1)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as lease:
        item = client.post(
            f"/api/v1/projects/{project.pk}/comparisons/next/", {}, content_type="application/json"
        ).json()
    with CaptureQueriesContext(connection) as submit:
        client.post(
            f"/api/v1/comparisons/{item['comparison']}/labels/",
            {"idempotency_key": uuid.uuid4().hex, "choice": "a", "strength": 1},
            content_type="application/json",
        )
    print(f"SQL statements: {len(lease)} per next, {len(submit)} per submit "
          "(BEGIN/COMMIT and auth included)")  # fmt: skip


def start_server(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "WEB_BIND": f"127.0.0.1:{PORT}",
    }
    server = subprocess.Popen(
        [sys.executable, "deploy/web.py"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            SERVER_GROUP[:] = [server.pid]  # its own session: the group is its pid
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    problem = (server.stderr.read() if server.stderr else b"").decode()
    sys.exit(f"The web server did not start: {problem}")


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the benchmark targets Postgres).")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"
    server = None
    try:
        server = start_server(url)
        workers = os.environ.get("WEB_WORKERS") or len(os.sched_getaffinity(0))
        threads = os.environ.get("WEB_THREADS", "4")
        print(f"PostgreSQL {connection.pg_version}; Granian {workers} workers × {threads} threads "
              f"on {os.cpu_count()} CPUs, clients on the same machine")  # fmt: skip
        count_statements()
        rounds = os.environ.get("BENCH_ROUNDS", "8,32")  # e.g. "8" for a quick look
        for count in (int(n) for n in rounds.split(",")):
            run_round(count)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        connection.close()
        connection.creation.destroy_test_db(db["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
