"""Components over sentence embeddings: similarity to references, and trained reward heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from workers.contracts import ScoreItem, ScoringError
from workers.ml.components.base import Component, ScoringContext
from workers.ml.embeddings import device
from workers.ml.heads import context_texts, head_features, load_head, prompt_tails
from workers.rewards import spec


class EmbeddingSimilarityComponent(Component[spec.EmbeddingSimilarity]):
    """Cosine similarity of the response to the reference answer (missing without one),
    or to exemplar answers, taking the max or the mean."""

    kind = "embedding_similarity"

    def texts_to_embed(self, items: Sequence[ScoreItem]) -> dict[str, list[str]]:
        texts = [item.response for item in items]
        if self.params.against == "reference":
            texts += [item.reference for item in items if item.reference is not None]
        else:
            texts += self.params.exemplars
        return {self.params.backbone: texts}

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        embedder = self.context.embedder(self.params.backbone)
        responses = embedder.embed([item.response for item in items])
        if self.params.against == "exemplars":
            similarities = responses @ embedder.embed(self.params.exemplars).T
            if self.params.aggregate == "max":
                pooled = similarities.max(axis=1)
            else:
                pooled = similarities.mean(axis=1)
            return [float(v) for v in pooled]
        present = [i for i, item in enumerate(items) if item.reference is not None]
        out: list[float | None] = [None] * len(items)
        if present:
            references = embedder.embed([items[i].reference or "" for i in present])
            cosines = np.einsum("ij,ij->i", responses[present], references)
            for i, value in zip(present, cosines, strict=True):
                out[i] = float(value)
        return out


class RewardModelComponent(Component[spec.RewardModel]):
    """A trained head (workers.ml.heads) over the backbone's embeddings of prompt and response,
    or a fine-tuned classifier reading them; an ensemble scores the mean of its members."""

    kind = "reward_model"

    def __init__(self, params: spec.RewardModel, context: ScoringContext) -> None:
        super().__init__(params, context)
        artifact = context.resources.heads.get(params.name)
        if artifact is None:
            raise ScoringError(f"{params.name}: no reward head was resolved for this component")
        self.device = device()
        self.module, self.config = load_head(Path(artifact.directory), on=self.device)

    def _context_texts(self, items: Sequence[ScoreItem]) -> list[str]:
        prompts = [item.prompt for item in items]
        responses = [item.response for item in items]
        if self.config.kind == "finetune":
            return self.module.texts(prompts, responses)
        encoder = self.context.embedder(self.config.backbone).encoder
        budget = self.config.context_tokens or encoder.context_tokens
        return context_texts(prompts, responses, encoder.model.tokenizer, budget)

    def texts_to_embed(self, items: Sequence[ScoreItem]) -> dict[str, list[str]]:
        if self.config.kind == "finetune":
            return {}
        if self.config.features == "context_response":
            return {self.config.backbone: self._context_texts(items)}
        texts = [item.response for item in items]
        if self.config.features == "prompt_response":
            texts += self._prompt_texts(items)
        return {self.config.backbone: texts}

    def _prompt_texts(self, items: Sequence[ScoreItem]) -> list[str]:
        prompts = [item.prompt for item in items]
        if self.config.prompt_tokens is None:
            return prompts
        tokenizer = self.context.embedder(self.config.backbone).encoder.model.tokenizer
        return prompt_tails(prompts, tokenizer, self.config.prompt_tokens)

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        if self.config.kind == "finetune":
            values = self.module.score_texts(self._context_texts(items))
            return [float(v) for v in values]
        embedder = self.context.embedder(self.config.backbone)
        if self.config.features == "context_response":
            responses = embedder.embed(self._context_texts(items))
        else:
            responses = embedder.embed([item.response for item in items])
        prompts = (
            embedder.embed(self._prompt_texts(items))
            if self.config.features == "prompt_response"
            else None
        )
        if responses.shape[1] != self.config.embedding_dim:
            raise ScoringError(
                f"{self.name}: the head expects {self.config.embedding_dim} dimensions, "
                f"the backbone gives {responses.shape[1]}"
            )
        features = head_features(self.config, prompts, responses).to(self.device)
        with torch.inference_mode():
            values = self.module(features).squeeze(-1).float().cpu().tolist()
        return [float(v) for v in values]
