"""Faults under load: annotators keep labelling while the worker, Postgres and a web process die.

    python tests/benchmarks/bench_faults.py [--duration 90] [--annotators 32]

Needs CELERY_BROKER_URL and CACHE_URL pointing at Redis (not restarted here). PostgreSQL is a
throw-away cluster of its own (initdb into a temporary folder with /usr/lib/postgresql/15/bin,
as user postgres when run as root, on a free port), so restarting it touches no other
database on the machine; it is deleted at the end (`--keep` keeps it).

It starts the app as the web container does (`deploy/web.py`: Granian, DEBUG off) and one
Celery worker, then runs N simulated annotators over HTTP (next → submit with an
idempotency key, each on a keep-alive connection, as in bench_annotation.py). A client
retries a call that failed with a 5xx or a broken connection, with the same key, as a real
front-end would. The run is split in four windows; at the start of the second the worker
is killed (SIGKILL; a new one starts 2 s later, as a supervisor would), at the third
Postgres is restarted (`pg_ctl restart -m fast`), at the fourth one Granian worker process
is killed (SIGKILL; Granian starts another).

It prints, per window: calls, acknowledged labels, 503s (a database momentarily
unreachable), other 5xx, broken connections; per fault:
recovery times (first acknowledged label after it, how long errors lasted, the worker's
held agreement job coming back, the web process respawned); and over the whole run:
acknowledged, lost (acknowledged but not stored), duplicated (one person's two labels on
one comparison, or one key stored twice), over the overlap (more current labels than a
comparison wants), stuck leases (a lease still held after its label was stored), and
whether the agreement figures catch up with every label at the end.

The visibility timeout is shortened (`--visibility-timeout`, 30 s) so that the killed
worker's job comes back within the run; production's default is 900 s (README).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
WINDOWS = ["before faults", "worker killed", "Postgres restarted", "web process killed"]
AGREEMENT_TASK = "workers.tasks.quality.refresh_agreement"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a private PostgreSQL -------------------------------------------------------------


class Cluster:
    """A throw-away PostgreSQL cluster in a temporary folder, on its own port."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="palate-faults-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-o", options,
                  "-w", "start")  # fmt: skip
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "palate_faults")  # fmt: skip

    def restart(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "restart")

    def stop(self, keep: bool) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/palate_faults"


# --- the app's processes --------------------------------------------------------------


def app_env(database_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "WEB_ACCESS_LOG": "false",
        "WEB_WORKERS": str(args.web_workers),
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(args.visibility_timeout),
        "AGREEMENT_DEBOUNCE_SECONDS": str(args.debounce),
    }


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "deploy/web.py"], cwd=ROOT,
            env={**env, "WEB_BIND": f"127.0.0.1:{port}"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit(f"The web server did not start; see {log}")


def web_processes(server: subprocess.Popen[bytes]) -> list[int]:
    """Granian's worker processes: the server's children that run Python (not the
    multiprocessing resource tracker)."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        return []
    workers = []
    for pid in children:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                workers.append(int(pid))
    return workers


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        offset = out.tell()
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes()[offset:]:
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            sys.exit(f"The Celery worker did not start; see {log}")
        time.sleep(0.2)
    return worker


# --- simulated annotators -------------------------------------------------------------


@dataclass
class Call:
    at: float  # seconds since the start of the run
    kind: str  # next, submit
    status: int  # HTTP status; 0 for a broken connection or a timeout


@dataclass
class Clock:
    start: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.start


class Annotator(threading.Thread):
    """next → submit until told to stop; a 5xx or a broken connection is retried with the
    same body (the same idempotency key) until the server gives a definite answer."""

    def __init__(self, port: int, project_id: int, token: str, clock: Clock,
                 stop: threading.Event) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.port, self.project_id, self.token, self.clock, self.stop = (
            port, project_id, token, clock, stop,
        )  # fmt: skip
        self.rng = random.Random(token)
        self.calls: list[Call] = []
        self.acknowledged: dict[str, float] = {}  # key → when
        self.refused: list[str] = []
        self.conn: http.client.HTTPConnection | None = None

    def _once(self, kind: str, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request(
                "POST", path, json.dumps(body),
                {"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            )  # fmt: skip
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            status, data = 0, b""
        self.calls.append(Call(self.clock.now(), kind, status))
        try:
            return status, (json.loads(data) if data else {})
        except ValueError:
            return status, {}

    def call(self, kind: str, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
        pause = 0.1
        while True:
            status, data = self._once(kind, path, body)
            if status and status < 500:
                return status, data
            if self.stop.is_set() and kind == "next":
                return status, data
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def run(self) -> None:
        while not self.stop.is_set():
            status, item = self.call(
                "next", f"/api/v1/projects/{self.project_id}/comparisons/next/", {}
            )
            if status == 204 or not status:
                break
            if status != 200:
                self.refused.append(f"next {status}: {item}")
                time.sleep(0.5)
                continue
            body = {
                "idempotency_key": uuid.uuid4().hex,
                "choice": self.rng.choice(["a", "b", "a", "b", "tie"]),
                "seconds_spent": self.rng.uniform(5, 60),
            }
            if body["choice"] != "tie":
                body["strength"] = self.rng.randrange(4)
            status, label = self.call(
                "submit", f"/api/v1/comparisons/{item['comparison']}/labels/", body
            )
            if status in (200, 201):
                self.acknowledged[body["idempotency_key"]] = self.clock.now()
            else:
                self.refused.append(f"submit {status}: {label}")
        if self.conn is not None:
            self.conn.close()


# --- watching the agreement figures and the broker ------------------------------------


class Monitor(threading.Thread):
    """Every half second: when the agreement figures were last computed, and which
    agreement jobs a worker holds unacknowledged in Redis."""

    def __init__(self, project_id: int, clock: Clock, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.project_id, self.clock, self.stop = project_id, clock, stop
        self.computed: list[tuple[float, float]] = []  # (seen at, computed at) run seconds
        self.unacked: list[tuple[float, set[str]]] = []

    def run(self) -> None:
        from django.conf import settings
        from django.db import connection

        from apps.annotation.models import AgreementReport

        wall_start = time.time() - self.clock.now()
        broker_url = settings.CELERY_BROKER_URL
        while not self.stop.is_set():
            try:
                report = AgreementReport.objects.filter(project_id=self.project_id).first()
                if report is not None and report.computed_at is not None:
                    at = report.computed_at.timestamp() - wall_start
                    if not self.computed or self.computed[-1][1] != at:
                        self.computed.append((self.clock.now(), at))
            except Exception:  # Postgres restarting: try again with a new connection
                connection.close()
            with contextlib.suppress(Exception):
                self.unacked.append((self.clock.now(), agreement_jobs_held(broker_url)))
            time.sleep(0.5)
        connection.close()


def agreement_jobs_held(broker_url: str) -> set[str]:
    """Delivery tags of the agreement jobs a worker holds unacknowledged now."""
    from kombu import Connection

    with Connection(broker_url) as broker:
        held = broker.default_channel.client.hgetall("unacked")
    return {
        tag.decode()
        for tag, message in held.items()
        if json.loads(message)[0]["headers"]["task"] == AGREEMENT_TASK
    }


# --- the run --------------------------------------------------------------------------


def errors_between(calls: list[Call], start: float, end: float) -> list[Call]:
    return [c for c in calls if start <= c.at < end and (c.status == 0 or c.status >= 500)]


def recovered_after(calls: list[Call], start: float, end: float) -> float | None:
    """Seconds from `start` to the first acknowledged label after the window's last failed
    call (or after `start`, if none failed)."""
    errors = errors_between(calls, start, end)
    since = errors[-1].at if errors else start
    after = [c.at for c in calls if c.at > since and c.kind == "submit" and c.status in (200, 201)]
    return min(after) - start if after else None


def error_span(calls: list[Call], start: float, end: float) -> str:
    errors = errors_between(calls, start, end)
    if not errors:
        return "no failed calls"
    return (
        f"{len(errors)} failed calls from +{errors[0].at - start:.1f} s to "
        f"+{errors[-1].at - start:.1f} s"
    )


def main() -> None:  # noqa: C901, PLR0915
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=90, help="seconds of labelling")
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2, help="Granian processes")
    parser.add_argument("--visibility-timeout", type=int, default=30)
    parser.add_argument("--debounce", type=int, default=10, help="AGREEMENT_DEBOUNCE_SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the cluster and the logs")
    args = parser.parse_args()
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not broker_url.startswith("redis") or not os.environ.get("CACHE_URL", "").startswith(
        "redis"
    ):
        sys.exit("Set CELERY_BROKER_URL and CACHE_URL to Redis (redis://host:port/db).")

    cluster = Cluster()
    cluster.start()
    logs = cluster.folder
    env = app_env(cluster.url, args)
    os.environ.update(
        {key: env[key] for key in ("DATABASE_URL", "CELERY_VISIBILITY_TIMEOUT_SECONDS",
                                   "AGREEMENT_DEBOUNCE_SECONDS")}
    )  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True)  # fmt: skip

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, F, Q
    from kombu import Connection

    from apps.annotation.models import AgreementReport, Assignment, Comparison, Label
    from tests.benchmarks.bench_annotation import make_annotators, make_project
    from workers.queues import Queue

    with Connection(settings.CELERY_BROKER_URL) as broker:  # a clean broker for this run
        for queue in Queue:
            broker.default_channel.queue_purge(queue)
        broker.default_channel.client.delete("unacked", "unacked_index")
    project = make_project("faults", prompts=max(2000, args.annotators * 200))
    people = make_annotators(project, args.annotators)
    connection.close()

    port = free_port()
    server = worker = None
    clock = Clock()
    stop_clients, stop_monitor = threading.Event(), threading.Event()
    faults: dict[str, float] = {}
    notes: dict[str, str] = {}
    try:
        server = start_web(env, port, logs / "web.log")
        worker = start_worker(env, logs / "worker.log")
        print(
            f"{args.annotators} annotators for {args.duration:.0f} s against Granian "
            f"({args.web_workers} workers, DEBUG off), one Celery worker, PostgreSQL 15 "
            f"(a private cluster on port {cluster.port}), Redis at {broker_url}; "
            f"visibility timeout {args.visibility_timeout} s, agreement debounce {args.debounce} s"
        )
        clock = Clock()
        clients = [Annotator(port, project.pk, token, clock, stop_clients) for _, token in people]
        monitor = Monitor(project.pk, clock, stop_monitor)
        monitor.start()
        for client in clients:
            client.start()
        window = args.duration / 4

        time.sleep(window)
        held = agreement_jobs_held(settings.CELERY_BROKER_URL)
        faults["worker"] = clock.now()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        notes["worker_held"] = ", ".join(sorted(held)) or "none"
        time.sleep(2)  # a supervisor's restart delay
        worker = start_worker(env, logs / "worker.log")
        notes["worker_ready"] = f"{clock.now() - faults['worker']:.1f}"

        time.sleep(max(0.0, 2 * window - clock.now()))
        faults["postgres"] = clock.now()
        cluster.restart()
        notes["postgres_took"] = f"{clock.now() - faults['postgres']:.1f}"

        time.sleep(max(0.0, 3 * window - clock.now()))
        victims = web_processes(server)
        faults["web"] = clock.now()
        if victims:
            os.kill(victims[0], signal.SIGKILL)
            notes["web_pid"] = str(victims[0])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = web_processes(server)
                if len(now) >= len(victims) and victims[0] not in now:
                    notes["web_respawned"] = f"{clock.now() - faults['web']:.1f}"
                    break
                time.sleep(0.1)

        time.sleep(max(0.0, args.duration - clock.now()))
        stop_clients.set()
        ended = clock.now()
        for client in clients:
            client.join(timeout=60)

        # Let the last labels' recompute run, then stop watching.
        connection.close()
        stored = Label.objects.filter(comparison__project=project).count()
        deadline = time.monotonic() + args.debounce + args.visibility_timeout + 30
        caught_up = None
        while time.monotonic() < deadline:
            report = AgreementReport.objects.filter(project=project).first()
            if report and report.requested_at is None and report.figures.get("labels") == stored:
                caught_up = clock.now() - ended
                break
            time.sleep(0.5)
        stop_monitor.set()
        monitor.join(timeout=10)

        # --- what happened --------------------------------------------------------------
        calls = sorted((c for client in clients for c in client.calls), key=lambda c: c.at)
        acknowledged = {k: at for client in clients for k, at in client.acknowledged.items()}
        bounds = [0.0, faults["worker"], faults["postgres"], faults["web"], ended]
        print(f"\n{'window':<20}{'from s':>7}{'to s':>7}{'calls':>8}{'acknowledged':>14}"
              f"{'503':>6}{'other 5xx':>11}{'broken conn.':>14}")  # fmt: skip
        for name, start, end in zip(WINDOWS, bounds, bounds[1:], strict=False):
            inside = [c for c in calls if start <= c.at < end]
            print(
                f"{name:<20}{start:7.1f}{end:7.1f}{len(inside):8d}"
                f"{sum(start <= at < end for at in acknowledged.values()):14d}"
                f"{sum(c.status == 503 for c in inside):6d}"
                f"{sum(c.status >= 500 and c.status != 503 for c in inside):11d}"
                f"{sum(c.status == 0 for c in inside):14d}"
            )

        print("\nrecovery")
        kill = faults["worker"]
        held_tags = set(notes["worker_held"].split(", ")) - {"none"}
        back = next((t for t, tags in monitor.unacked if t > kill and not held_tags & tags), None)
        recomputed = next((seen for seen, at in monitor.computed if at > kill), None)
        print(
            f"  worker killed at {kill:.1f} s holding agreement job(s): {notes['worker_held']}; "
            f"a new worker ready +{notes['worker_ready']} s; "
            + (f"the held job left the unacknowledged set +{back - kill:.1f} s; "
               if held_tags and back is not None else "")
            + (f"figures recomputed +{recomputed - kill:.1f} s after the kill"
               if recomputed is not None else "figures not recomputed during the run")
        )  # fmt: skip
        print(
            "  agreement figures computed at "
            + ", ".join(f"{at:.1f}" for _, at in monitor.computed if at >= 0)
            + " s into the run"
        )
        failures = (logs / "worker.log").read_text(errors="replace").count("raised unexpected")
        print(f"  worker log: {failures} task(s) raised an error")
        for name, key, extra in (
            ("Postgres restarted", "postgres", f"(restart took {notes['postgres_took']} s)"),
            ("web process killed", "web",
             f"(pid {notes.get('web_pid', '?')}; Granian started another +"
             f"{notes.get('web_respawned', '?')} s)"),
        ):  # fmt: skip
            at = faults[key]
            end = bounds[bounds.index(at) + 1]
            first = recovered_after(calls, at, end)
            print(
                f"  {name} at {at:.1f} s {extra}: {error_span(calls, at, end)}; "
                + (f"labels acknowledged again from +{first:.1f} s" if first is not None else
                   "no acknowledged label after it")
            )  # fmt: skip

        connection.close()
        keys = list(
            Label.objects.filter(comparison__project=project).values_list(
                "idempotency_key", flat=True
            )
        )
        lost = set(acknowledged) - set(keys)
        twice_by_key = len(keys) - len(set(keys))
        twice_by_person = (
            Label.objects.filter(comparison__project=project, supersedes__isnull=True)
            .values("comparison", "annotator")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        over = (
            Comparison.objects.filter(project=project)
            .annotate(current=Count("labels", filter=Q(labels__superseded_by__isnull=True)))
            .filter(Q(current__gt=F("labels_wanted")) | Q(labels_done__gt=F("labels_wanted")))
            .count()
        )
        leased = Assignment.objects.filter(project=project, status=Assignment.Status.LEASED)
        stuck = (
            leased.filter(
                comparison__labels__annotator=F("annotator"),
            )
            .distinct()
            .count()
        )
        refused = [r for client in clients for r in client.refused]
        print(
            f"\ntotal: {len(acknowledged)} acknowledged, {len(keys)} stored; lost {len(lost)}, "
            f"duplicated {twice_by_key + twice_by_person}, over the overlap {over}, stuck leases "
            f"{stuck} ({leased.count()} leases open at the end, each expiring on its own); "
            f"503 {sum(c.status == 503 for c in calls)}, other 5xx "
            f"{sum(c.status >= 500 and c.status != 503 for c in calls)}, broken connections "
            f"{sum(c.status == 0 for c in calls)}, refused with a 4xx {len(refused)}"
        )
        print(
            "agreement figures include every label "
            + (f"{caught_up:.1f} s after the clients stopped" if caught_up is not None
               else "— not within the wait")
        )  # fmt: skip
        for line in refused[:5]:
            print("   ", line)
    finally:
        stop_clients.set()
        stop_monitor.set()
        for process in (server, worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
        connection.close()
        cluster.stop(keep=args.keep)
        if args.keep:
            print(f"cluster and logs kept in {cluster.folder}")


if __name__ == "__main__":
    main()
