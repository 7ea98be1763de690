"""The real web server (deploy/web.py) in a subprocess, on the test database: for tests of
what a request answers when a service behind it is down or restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def web_server(**settings: str) -> Iterator[int]:
    """deploy/web.py in production settings, one worker with one thread, on this test's
    database and the given settings; yields its port (it may still be starting) and stops
    it after. The test needs `django_db(transaction=True)` for the server to see its rows."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DEBUG": "false",
        "SECRET_KEY": "web-server-test-secret-key",
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "1",
        "WEB_ACCESS_LOG": "false",
        **settings,
    }
    server = subprocess.Popen(
        [sys.executable, "deploy/web.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
