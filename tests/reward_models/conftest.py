from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    """Artifacts go to a folder of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
