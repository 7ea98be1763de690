"""How long model text takes to render: raw (escaped) text, as the workbench showed it
before, against Markdown with raw-text offsets, uncached and cached.

Run with `python tests/benchmarks/bench_model_text.py`. A workbench item shows two
responses (or k, ranking); the next-item render pays this once per response shown, and
the cache (per content, in each web process) makes the repeat views of a comparison by
its other annotators cost a dictionary lookup.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from apps.core import rendering  # noqa: E402

BLOCK = (
    "Here is **the answer**, with a [link](https://example.org) and `inline code`.\n\n"
    "- first *point*, explained at some length so the line wraps in the page\n"
    "- second point with \\*escapes\\* &amp; entities\n\n"
    "| model | score |\n|---|---|\n| small | 0.61 |\n| large | 0.74 |\n\n"
    "```python\ndef best(scores):\n    return max(scores)\n```\n\n"
)


def _time(function, text: str, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(text)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    for blocks in (4, 25, 100):
        text = BLOCK * blocks
        raw = _time(rendering.render_raw_text, text, 50)
        cold = _time(rendering._render_model_text, text, 20)
        rendering.render_model_text(text)
        shared = _time(rendering._render_model_text_shared, text, 50)
        warm = _time(rendering.render_model_text, text, 50)
        print(
            f"{len(text):>7,} chars: raw {raw:6.3f} ms · Markdown uncached {cold:6.2f} ms"
            f" · from the shared cache {shared:6.3f} ms · from this process {warm:6.4f} ms"
            " (median per response)"
        )


if __name__ == "__main__":
    main()
