"""The Redis broker's visibility timeout (config/settings.py), read at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import json, config.settings as s; "
        "print(json.dumps(getattr(s, 'CELERY_BROKER_TRANSPORT_OPTIONS', None)))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", **env},
    )  # fmt: skip


def test_it_gives_a_killed_workers_jobs_back_after_the_visibility_timeout() -> None:
    default = settings_with()
    short = settings_with(CELERY_VISIBILITY_TIMEOUT_SECONDS="120")

    # Kombu's own default was an hour, swept every 100 s.
    assert json.loads(default.stdout) == {
        "visibility_timeout": 900,
        "unacked_restore_interval": 60,
        "unacked_restore_throttle": 1,
    }
    assert json.loads(short.stdout) == {
        "visibility_timeout": 120,
        "unacked_restore_interval": 12,
        "unacked_restore_throttle": 1,
    }


def test_a_debounce_as_long_as_the_visibility_timeout_stops_the_app_at_start() -> None:
    result = settings_with(CELERY_VISIBILITY_TIMEOUT_SECONDS="30", AGREEMENT_DEBOUNCE_SECONDS="30")

    assert result.returncode == 1
    assert (
        "ImproperlyConfigured: AGREEMENT_DEBOUNCE_SECONDS must be below "
        "CELERY_VISIBILITY_TIMEOUT_SECONDS: a job waiting for its countdown longer than the "
        "timeout would be delivered twice"
    ) in result.stderr
