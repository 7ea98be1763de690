"""The workers' GPU path: the same engine on `cuda` and on the CPU, side by side.

Run on a worker host with a GPU: `python tests/benchmarks/bench_gpu.py` (no database,
no Django: only the Django-free code under workers/ml). On a machine without one it
says so and stops. It prints, from the same run:

- encode: all-MiniLM-L6-v2 through `workers.ml.embeddings.Encoder` on `cuda`, texts per
  second, against the CPU on a subset; the largest 1 − cos between the two devices'
  vectors of the same texts;
- train: `train_reward_model` on `cuda` — an MLP head, an ensemble of 5 and one epoch
  of full fine-tuning (`trainer="finetune"`) on synthetic multi-turn pairs
  (tests/workers/ml/synthetic_chat.py) — with times and held-out accuracy;
- engine: the function of tests/benchmarks/bench_scoring.py (embedding similarity + BLEU +
  regex + length) over 10,000 responses through `Scorer` with an empty embedding cache,
  against raw `encode` of the same texts (the database part of that benchmark is the
  same on any device, so it is left out here);
- score: one reward function (both trained heads, embedding similarity, BLEU, length)
  through `workers.ml.scoring.Scorer` on `cuda`, and the same items and heads scored by
  a CPU-only process (`CUDA_VISIBLE_DEVICES=` in a child), the largest difference per
  component; heads trained on the GPU must score the same on a CPU worker.

Each check ends in PASS or FAIL, and the exit status is 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from tests.workers.ml.synthetic_chat import preference_pairs  # noqa: E402
from workers.contracts import (  # noqa: E402
    HeadArtifact,
    MemoryEmbeddingStore,
    ScoreItem,
    ScoringResources,
    TrainingPair,
    prompt_as_text,
)
from workers.ml.embeddings import DEFAULT_BACKBONE, Encoder, device  # noqa: E402
from workers.ml.scoring import Scorer  # noqa: E402
from workers.ml.training import train_reward_model  # noqa: E402
from workers.rewards.spec import RewardSpec  # noqa: E402
from workers.training.settings import TrainingSettings  # noqa: E402

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"[check] {'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def pairs(n: int, seed: int) -> list[TrainingPair]:
    return [
        TrainingPair(
            pair_id=i, prompt_id=p.prompt_id, prompt=p.prompt, chosen=p.chosen,
            rejected=p.rejected, split="validation" if p.prompt_id % 5 == 0 else "train",
            strength=p.strength, agreement=p.agreement,
        )
        for i, p in enumerate(preference_pairs(n, seed))
    ]  # fmt: skip


def timed_encode(encoder: Encoder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    encoder.encode(texts[:batch_size], batch_size=batch_size)  # warm up kernels
    if encoder.model.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=batch_size)
    return vectors, len(texts) / (time.perf_counter() - started)


def encode_part(texts: list[str], cpu_texts: int) -> None:
    gpu = Encoder(DEFAULT_BACKBONE, on=device())
    cpu = Encoder(DEFAULT_BACKBONE, on="cpu")
    for batch in (128, 512):
        _, rate = timed_encode(gpu, texts, batch)
        print(f"[encode] cuda, batch {batch}: {rate:9.0f} texts/s over {len(texts)} texts")
    subset = texts[:cpu_texts]
    on_gpu, _ = timed_encode(gpu, subset, 128)
    on_cpu, rate = timed_encode(cpu, subset, 128)
    print(f"[encode] cpu ({torch.get_num_threads()} threads), batch 128: {rate:9.0f} texts/s "
          f"over {len(subset)} texts")  # fmt: skip
    gap = float(np.max(1.0 - np.einsum("ij,ij->i", on_gpu, on_cpu)))
    check("encode agrees across devices", gap < 1e-3, f"largest 1 − cos {gap:.2e}")


def train_part(head_pairs: int, finetune_pairs: int, out: Path) -> dict[str, str]:
    heads: dict[str, str] = {}
    data = pairs(head_pairs, seed=3)
    store = MemoryEmbeddingStore()
    for name, settings in (
        ("mlp", TrainingSettings()),
        ("ensemble", TrainingSettings(ensemble_size=5)),
    ):
        started = time.perf_counter()
        outcome = train_reward_model(
            pairs=data, settings=settings, embedding_store=store, out_directory=out / name
        )
        accuracy = float(outcome.metrics["accuracy"])
        print(f"[train] {name} head on {device()}: {time.perf_counter() - started:.1f} s "
              f"(embedding {len(data)} pairs the first time), held-out accuracy "
              f"{accuracy:.3f}")  # fmt: skip
        check(f"{name} head learns", accuracy > 0.6, f"held-out accuracy {accuracy:.3f}")
        heads[name] = str(out / name)
    ft = pairs(finetune_pairs + finetune_pairs // 4, seed=1)
    train = [p for p in ft if p.split == "train"][:finetune_pairs]
    validation = [p for p in ft if p.split == "validation"][:200]
    settings = TrainingSettings(trainer="finetune", finetune_epochs=1)
    started = time.perf_counter()
    outcome = train_reward_model(
        pairs=train + validation, settings=settings, embedding_store=None,
        out_directory=out / "finetune",
    )  # fmt: skip
    accuracy = float(outcome.metrics["accuracy"])
    print(f"[train] fine-tune MiniLM on {device()}, 1 epoch on {len(train)} pairs (batch "
          f"{settings.finetune_batch_size}, max_length {settings.max_length}): "
          f"{time.perf_counter() - started:.1f} s, held-out accuracy {accuracy:.3f} on "
          f"{len(validation)} pairs")  # fmt: skip
    check("fine-tuned model learns", accuracy > 0.6, f"held-out accuracy {accuracy:.3f}")
    heads["finetune"] = str(out / "finetune")
    return heads


ENGINE_SPEC = {
    "components": [
        {"name": "sim", "type": "embedding_similarity", "against": "reference"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0},
        {"name": "len", "type": "length_penalty", "unit": "words", "target": 25, "tolerance": 10},
    ],
    "combine": {"op": "weighted_sum", "weights": {"sim": 1.0, "bleu": 0.5, "apology": 1.0,
                                                  "len": 0.3}},
}  # fmt: skip


def engine_part(n: int) -> None:
    data = pairs(n, seed=13)
    items = [ScoreItem(prompt_as_text(p.prompt), p.chosen, p.rejected) for p in data]
    texts = [item.response for item in items] + [item.reference or "" for item in items]
    encoder = Encoder(DEFAULT_BACKBONE, on=device())
    _, rate = timed_encode(encoder, texts, 128)
    raw = rate * n / len(texts)
    print(f"[engine] raw encode of responses and references: {raw:8.0f} responses/s")
    scorer = Scorer(RewardSpec.model_validate(ENGINE_SPEC), ScoringResources())
    scorer.component_values(items[:128])
    scorer.context.embedder(DEFAULT_BACKBONE).clear()
    started = time.perf_counter()
    scorer.component_values(items)
    rate = n / (time.perf_counter() - started)
    print(f"[engine] Scorer, nothing cached: {rate:8.0f} responses/s ({rate / raw:.2f} × raw)")


def score_spec(heads: dict[str, str]) -> tuple[RewardSpec, ScoringResources]:
    components = [
        {"name": f"rm_{name}", "type": "reward_model", "model": i + 1}
        for i, name in enumerate(sorted(heads))
    ] + [
        {"name": "sim", "type": "embedding_similarity", "against": "reference"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "len", "type": "length_penalty", "unit": "tokens", "target": 60, "tolerance": 30},
    ]
    weights = {c["name"]: 1.0 for c in components}
    spec = RewardSpec.model_validate(
        {"components": components, "combine": {"op": "weighted_sum", "weights": weights}}
    )
    resources = ScoringResources(heads={
        f"rm_{name}": HeadArtifact(model_id=i + 1, directory=heads[name], backbone=DEFAULT_BACKBONE)
        for i, name in enumerate(sorted(heads))
    })  # fmt: skip
    return spec, resources


def score_items(n: int) -> list[ScoreItem]:
    return [
        ScoreItem(prompt_as_text(p.prompt), p.chosen if p.pair_id % 2 else p.rejected,
                  p.rejected if p.pair_id % 2 else p.chosen)
        for p in pairs(n, seed=11)
    ]  # fmt: skip


def score_values(heads: dict[str, str], n: int) -> tuple[dict[str, list[float | None]], float]:
    spec, resources = score_spec(heads)
    items = score_items(n)
    scorer = Scorer(spec, resources)
    scorer.component_values(items[:64])  # load and warm every model
    started = time.perf_counter()
    values = scorer.component_values(items)
    return values, n / (time.perf_counter() - started)


def score_part(heads: dict[str, str], n: int, out: Path) -> None:
    values, rate = score_values(heads, n)
    print(f"[score] {len(values)} components on {device()}: {rate:8.0f} items/s over {n} items "
          "(every text encoded: nothing cached)")  # fmt: skip
    cpu_file = out / "cpu.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, __file__, "--cpu-score", json.dumps(heads), "--items", str(n),
         "--to", str(cpu_file)],
        env=env, check=True,
    )  # fmt: skip
    cpu = json.loads(cpu_file.read_text())
    print(f"[score] the same on the CPU: {cpu['rate']:8.0f} items/s")
    for name, on_gpu in values.items():
        a = np.array(on_gpu, dtype=float)
        b = np.array(cpu["values"][name], dtype=float)
        gap = float(np.nanmax(np.abs(a - b)))
        spread = float(np.nanstd(b)) or 1.0
        check(f"{name} scores the same on cuda and cpu", gap <= 1e-3 * max(spread, 1.0),
              f"largest difference {gap:.2e} (values' spread {spread:.3f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000, help="texts encoded on cuda")
    parser.add_argument("--cpu-texts", type=int, default=2_000, help="of them also on the CPU")
    parser.add_argument("--head-pairs", type=int, default=3_000)
    parser.add_argument("--finetune-pairs", type=int, default=2_000)
    parser.add_argument("--engine-items", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000, help="items scored on each device")
    parser.add_argument("--dry-run", action="store_true", help="check the script on a CPU")
    parser.add_argument("--cpu-score", help=argparse.SUPPRESS)  # child: heads as JSON
    parser.add_argument("--to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_score:
        assert device() == "cpu"
        values, rate = score_values(json.loads(args.cpu_score), args.items)
        Path(args.to).write_text(json.dumps({"values": values, "rate": rate}))
        return
    if device() != "cuda" and not args.dry_run:
        sys.exit("No GPU here: torch.cuda.is_available() is False (--dry-run runs on the CPU).")
    name = torch.cuda.get_device_name(0) if device() == "cuda" else "no GPU (dry run)"
    print(f"[env] torch {torch.__version__}, {name}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    texts = [p.chosen for p in pairs(args.texts, seed=5)]
    encode_part(texts, args.cpu_texts)
    engine_part(args.engine_items)
    with tempfile.TemporaryDirectory() as folder:
        heads = train_part(args.head_pairs, args.finetune_pairs, Path(folder))
        score_part(heads, args.items, Path(folder))
    print(f"[done] {len(FAILED)} failed" + (f": {', '.join(FAILED)}" if FAILED else ""))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
