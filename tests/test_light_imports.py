from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "sentence_transformers")


@pytest.mark.parametrize("module", ["config.urls", "workers.tasks", "config.celery"])
def test_it_does_not_import_torch_when_importing(module: str) -> None:
    # A fresh interpreter: this test process may have loaded torch elsewhere.
    code = (
        "import django, os, sys; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        f"django.setup(); import {module}; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""


def test_a_worker_loads_pyarrow_only_when_a_parquet_file_needs_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """pyarrow (~65 MiB) is loaded by a Parquet import or export, not by a worker's start,
    and writing Parquet does not load pandas (which `pyarrow.array()` would)."""
    code = (
        "import django, os, sys; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "django.setup(); import config.urls, config.celery, workers.tasks.exports, "
        "workers.tasks.imports, apps.exports.services, apps.imports.services; "
        "print('pyarrow' in sys.modules, end=' '); "
        "from pathlib import Path; "
        "from apps.exports.writers import INT, TEXT, Column, ParquetWriter, list_of; "
        f"writer = ParquetWriter(Path({str(tmp_path / 'x.parquet')!r}), "
        "[Column('a', INT), Column('b', list_of(TEXT))]); "
        "writer.write({'a': 1, 'b': ['x']}); writer.close(); "
        "print('pyarrow' in sys.modules, 'pandas' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.split() == ["False", "True", "False"]


def test_a_web_worker_loads_what_its_first_requests_need_at_start() -> None:
    """The URLconf and the Redis client library come with config.wsgi (the web server's
    workers import it before they serve): otherwise the first requests of each worker import them,
    redis-py alone in about 0.2 s, while the others wait."""
    code = (
        "import sys; import config.wsgi; "
        "print('redis' in sys.modules, 'apps.annotation.api' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.split() == ["True", "True"]
