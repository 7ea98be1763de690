"""The web validates training settings without loading torch."""

from __future__ import annotations

import subprocess
import sys


def test_the_settings_and_contracts_import_without_torch() -> None:
    code = (
        "import sys, workers.contracts, workers.training.settings as s; "
        "s.TrainingSettings.model_validate({'ensemble_size': 3}); "
        "print('torch' in sys.modules)"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"
