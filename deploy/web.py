"""Serve the web app in production: `python deploy/web.py` (the web container's command).

Granian, a WSGI server whose HTTP side (parsing, keep-alive, writing responses) runs in
Rust outside Python's GIL: on the annotation benchmark (tests/benchmarks/bench_annotation.py)
its workers spent about a tenth less CPU per judgment than gunicorn's threads did, and
every bit of CPU on the 2-core host shows in the latency of next and submit.

Settings, from the environment:
  WEB_BIND         host:port to listen on (default 0.0.0.0:8000)
  WEB_WORKERS      processes; default one per CPU this process may run on
  WEB_THREADS      threads per process running Django, taking turns while others wait on
                   Postgres (default 4)
  WEB_ACCESS_LOG   one line per request on stdout (default true)
The GUNICORN_BIND, GUNICORN_WORKERS and GUNICORN_THREADS names of earlier releases are
still read when the WEB_ ones are unset. Behind a proxy that ends TLS, set
USE_X_FORWARDED_PROTO=true (see .env.example) so Django knows the request was https.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class ConfigError(ValueError):
    pass


def _setting(environ: Mapping[str, str], name: str, old: str | None = None) -> str | None:
    value = environ.get(name) or (environ.get(old) if old else None)
    return value.strip() if value else None


def _count(environ: Mapping[str, str], name: str, old: str, default: int) -> int:
    text = _setting(environ, name, old)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {text!r}.")
    return int(text)


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2


def server_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """Granian's keyword arguments for these environment variables; ConfigError names the
    variable that is wrong."""
    bind = _setting(environ, "WEB_BIND", "GUNICORN_BIND") or "0.0.0.0:8000"  # noqa: S104
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"WEB_BIND must be host:port, such as 0.0.0.0:8000, not {bind!r}.")
    access = (_setting(environ, "WEB_ACCESS_LOG") or "true").lower()
    if access not in TRUE | FALSE:
        raise ConfigError(f"WEB_ACCESS_LOG must be true or false, not {access!r}.")
    return {
        "address": host.strip("[]"),
        "port": int(port),
        # One process per CPU: more processes than CPUs only fought over them (measured
        # on the annotation benchmark).
        "workers": _count(environ, "WEB_WORKERS", "GUNICORN_WORKERS", _cpus()),
        "blocking_threads": _count(environ, "WEB_THREADS", "GUNICORN_THREADS", 4),
        "log_access": access in TRUE,
        # A worker that dies is started again, as gunicorn's arbiter did.
        "respawn_failed_workers": True,
    }


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    try:
        options = server_options(os.environ)
    except ConfigError as exc:
        sys.exit(f"palate web: {exc}")
    Granian(
        "config.wsgi:application", interface=Interfaces.WSGI, working_dir=ROOT, **options
    ).serve()


if __name__ == "__main__":
    main()
