"""Thin Celery entrypoints, one module per domain; they import workers.ml lazily."""

from __future__ import annotations

from workers.tasks.imports import run_import

__all__ = ["run_import"]
