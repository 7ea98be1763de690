from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create
from tests.conftest import wait_for
from tests.exports.factories import label, pair, read_rows
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # before the worker starts: it inherits this


def _finished(export: Export) -> Export | None:
    export.refresh_from_db()
    return export if export.is_finished else None


def test_it_runs_an_export_on_a_real_worker(celery_worker_process):  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    annotator = UserFactory()
    for n in range(5):
        comparison, _, _ = pair(project, f"Q{n}", f"good {n}", f"bad {n}")
        label(comparison, annotator, "a")

    export = export_create(
        project=project,
        user=annotator,
        export_format="trl-preference",
        file_format="parquet",
        options=ExportOptions(),
    )
    wait_for(lambda: _finished(export), timeout=60)

    assert export.status == Export.Status.SUCCEEDED, export.error
    assert (export.items_done, export.items_total, export.row_counts) == (5, 5, {"train": 5})
    rows = read_rows(default_storage.path(export.files[0]["path"]))
    assert rows[0] == {"prompt": "Q0", "chosen": "good 0", "rejected": "bad 0"}
    assert Path(default_storage.path(export.card_path)).read_text() == export.card
