"""gunicorn settings for the web container; override with GUNICORN_* variables."""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# One process per CPU this process may run on, each with threads that take turns while
# others wait on Postgres: more processes than CPUs only fought over them (measured on the
# annotation benchmark, tests/benchmarks/bench_annotation.py).
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("GUNICORN_WORKERS") or _cpus or 2)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Uploads of large import files stream through the request; give them time.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
