"""The embedded setup that `make demo` runs: SQLite under var/, the filesystem broker, no
other server. The rest of the suite runs on Postgres, so what only SQLite lacks is
caught here, in a child process with none of the service variables set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def manage(var: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env={**env, "PALATE_VAR_DIR": str(var)}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_it_labels_and_exports_the_demo_with_a_metadata_filter_on_sqlite(tmp_path):
    manage(tmp_path, "migrate", "--noinput")
    manage(tmp_path, "load_demo")
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
