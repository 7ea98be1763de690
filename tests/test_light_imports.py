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
