"""The embedding cache in the database, behind workers.contracts.EmbeddingStore.

Workers pass an instance of this to the Django-free ML code, which asks for the
vectors it has and hands back the ones it had to encode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice

from apps.rewards.models import Embedding

FLOAT32_BYTES = 4
_CHUNK = 5000


class DatabaseEmbeddingStore:
    """Reads and fills the Embedding table; concurrent writers of one text are harmless."""

    def get_many(self, backbone: str, hashes: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            rows = Embedding.objects.filter(
                backbone=backbone, text_hash__in=unique[start : start + _CHUNK]
            ).values_list("text_hash", "vector")
            found.update((h, bytes(vector)) for h, vector in rows)
        return found

    def put_many(self, backbone: str, vectors: Mapping[str, bytes]) -> None:
        items = iter(vectors.items())
        while chunk := list(islice(items, _CHUNK)):
            Embedding.objects.bulk_create(
                [
                    Embedding(
                        backbone=backbone,
                        text_hash=h,
                        dimensions=len(vector) // FLOAT32_BYTES,
                        vector=vector,
                    )
                    for h, vector in chunk
                ],
                ignore_conflicts=True,  # another worker cached the same text first
                batch_size=1000,
            )
