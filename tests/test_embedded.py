"""The embedded setup that `make demo` runs: SQLite under var/, the filesystem broker, no
other server. The rest of the suite runs on Postgres, so what only SQLite lacks is
caught here, in a child process with none of the service variables set."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[1]

LABEL_AND_LIST = """
import json
from apps.accounts.models import Project, User
from apps.annotation.schema import Judgment
from apps.annotation.services import assignment_next, label_submit
project = Project.objects.get(slug="demo")
user = User.objects.get(username="annotator")
labelled = {}
for n in range(45):
    assignment = assignment_next(project=project, user=user)
    if assignment is None:
        break
    if assignment.comparison.kind != "pair":
        continue
    label_submit(assignment=assignment, user=user,
                 judgment=Judgment(idempotency_key=f"embedded-{n}", choice="a"))
    labelled[assignment.comparison_id] = assignment.comparison.prompt.metadata.get("kind")
print(json.dumps(labelled))
"""


def embedded_env(var: Path, **extra: str) -> dict[str, str]:
    """The environment of `make demo`: none of the service variables, files under `var`."""
    services = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL")
    env = {k: v for k, v in os.environ.items() if k not in services}
    return {**env, "PALATE_VAR_DIR": str(var), **extra}


def manage(var: Path, *args: str, **extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env=embedded_env(var, **extra), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_it_labels_and_exports_the_demo_with_a_metadata_filter_on_sqlite(tmp_path):
    manage(tmp_path, "migrate", "--noinput")
    manage(tmp_path, "load_demo", "--fresh-only")
    labelled = json.loads(manage(tmp_path, "shell", "-c", LABEL_AND_LIST).splitlines()[-1])
    coding = {int(c) for c, kind in labelled.items() if kind == "coding"}
    assert coding, labelled
    assert len(coding) < len(labelled), labelled

    out = tmp_path / "coding.jsonl"
    manage(tmp_path, "export_data", "demo", "--format", "labels-raw", "--out", str(out),
           "--options", json.dumps({"metadata": {"kind": "coding"}}))  # fmt: skip

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["comparison_id"] for row in rows} == coding
    assert (tmp_path / "palate.sqlite3").is_file()


SCORING_SETUP = """
import json
from apps.accounts.models import Role
from apps.accounts.services import token_issue
from apps.rewards.services import reward_function_create, score_run_create
from tests.factories import MembershipFactory
from tests.rewards.factories import TEXT_SPEC, responses_for
designer = MembershipFactory(role=Role.DESIGNER).user
project = designer.memberships.get().project
responses_for(project, {"Capital of France?": ["Paris [1] it is"]})
version = reward_function_create(project=project, name="reward", spec=TEXT_SPEC, created_by=None)
run = score_run_create(version=version, created_by=None, enqueue=False)
print(json.dumps({"token": token_issue(user=designer).key, "version": version.pk, "run": run.pk}))
"""
SCORE_IN_PROCESS = """
import json
from django.test import Client
client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Token TOKEN")
answer = client.post("/api/v1/reward-function-versions/VERSION/score/", ITEMS,
                     content_type="application/json")
print(json.dumps([answer.status_code, answer.json()]))
"""
# A long job on the other worker: a score run whose claim waits on SQLite's write lock, which
# this script holds (BEGIN IMMEDIATE) until the test writes a line.
HOLD_WITH_A_LONG_JOB = """
import sys
from django.db import transaction
from workers.tasks.rewards import score_responses
with transaction.atomic():
    score_responses.delay(run_id=RUN)
    print("holding", flush=True)
    sys.stdin.readline()
"""
ITEMS = {"items": [{"prompt": "Capital of France?", "response": "Paris [1] it is"}]}
# TEXT_SPEC: cites 1 (weight 2) and words 0 (4 words, within 1 of the target 3).
ANSWER = {"results": [{"reward": 2.0, "components": {"cites": 1.0, "words": 0.0}}]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _score(port: int, token: str, version: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", f"/api/v1/reward-function-versions/{version}/score/",
                     json.dumps(ITEMS), {"Content-Type": "application/json",
                                         "Authorization": f"Token {token}"})  # fmt: skip
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _scored_once_up(port: int, token: str, version: int) -> bool:
    try:
        return _score(port, token, version)[0] == 200
    except OSError:  # the web server is not listening yet
        return False


@pytest.mark.integration
def test_runlocal_answers_the_score_endpoint_while_a_long_job_holds_the_other_worker(
    tmp_path: Path,
) -> None:
    manage(tmp_path, "migrate", "--noinput")
    ids = json.loads(manage(tmp_path, "shell", "-c", SCORING_SETUP).splitlines()[-1])
    token, version, run = ids["token"], ids["version"], ids["run"]

    # No worker at all: the file result backend answers 503 in the error shape too.
    script = SCORE_IN_PROCESS.replace("TOKEN", token).replace("VERSION", str(version))
    script = script.replace("ITEMS", repr(ITEMS))
    status, body = json.loads(
        manage(tmp_path, "shell", "-c", script, SCORE_TIMEOUT_SECONDS="2").splitlines()[-1]
    )
    assert status == 503
    assert body == {"error": {"code": "worker_timeout", "details": {}, "message": (
        "No scoring worker answered within SCORE_TIMEOUT_SECONDS (2 s): the worker consuming "
        "the `scoring` queue is busy or not running. Try again shortly.")}}  # fmt: skip

    port = _free_port()
    log = tmp_path / "runlocal.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runlocal", "--port", str(port)], cwd=ROOT,
            env=embedded_env(tmp_path, SCORE_TIMEOUT_SECONDS="5"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    holder = None
    try:
        wait_for(lambda: _scored_once_up(port, token, version), timeout=180, interval=1)
        holder = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--verbosity=0", "-c",
             HOLD_WITH_A_LONG_JOB.replace("RUN", str(run))],
            cwd=ROOT, env=embedded_env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"holding\n"
        wait_for(lambda: b"Task workers.tasks.rewards.score_responses[" in log.read_bytes())

        status, answer = _score(port, token, version)

        holder.communicate(b"\n", timeout=30)
        assert holder.returncode == 0
        assert status == 200, answer[-2000:]
        assert json.loads(answer) == ANSWER

        def run_status() -> str | None:
            with contextlib.closing(sqlite3.connect(tmp_path / "palate.sqlite3")) as db:
                (value,) = db.execute(
                    "SELECT status FROM rewards_scorerun WHERE id = ?", [run]
                ).fetchone()
            return value if value in ("succeeded", "failed") else None

        # The long job was real: once the lock is gone, the other worker finishes it.
        assert wait_for(run_status, timeout=60) == "succeeded"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        time.sleep(0.5)
        with pytest.raises(ProcessLookupError):  # both workers stopped with it
            os.killpg(server.pid, 0)
    finally:
        for process in (holder, server):
            if process is not None and process.poll() is None:
                process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.slow
def test_it_loads_the_lived_in_demo_on_sqlite_once(tmp_path):
    manage(tmp_path, "migrate", "--noinput")

    first = manage(tmp_path, "load_demo")
    again = manage(tmp_path, "load_demo")

    ready = [line for line in first.splitlines() if "a project in use' is ready" in line]
    assert len(ready) == 1, first
    assert " labels, reward model 'Run 1 · mlp' promoted, " in ready[0]
    assert "'Helpful, concise, no filler' v2 scored and inspected" in ready[0]
    assert ready[0] in again.splitlines()
