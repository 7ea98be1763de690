"""Embedding similarity, the embedding cache and reward heads on the packaged MiniLM model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from workers.contracts import HeadArtifact, MemoryEmbeddingStore, ScoreItem, ScoringResources
from workers.ml.components import ScoringContext, build_component
from workers.ml.embeddings import DEFAULT_BACKBONE, Embedder, Encoder, load_encoder
from workers.ml.heads import HeadConfig, build_head, head_features, load_head, save_head
from workers.ml.scoring import Scorer
from workers.rewards.fitting import fitted_without_data
from workers.rewards.spec import Component, RewardSpec

COMPONENT = TypeAdapter(Component)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return load_encoder(DEFAULT_BACKBONE)


def _score(params: dict[str, Any], items: list[ScoreItem], context: ScoringContext) -> list:
    return build_component(COMPONENT.validate_python(params), context).score(items)


def test_the_default_backbone_loads_offline_and_gives_unit_vectors(encoder: Encoder) -> None:
    vectors = encoder.encode(["The sky is blue.", "Grass is green."])

    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_similarity_to_the_reference_is_the_cosine(encoder: Encoder) -> None:
    items = [
        ScoreItem("q", "Paris is the capital of France.", "Paris is the capital of France."),
        ScoreItem("q", "I like turtles.", "The capital of France is Paris."),
        ScoreItem("q", "No reference here.", None),
    ]
    params = {"name": "sim", "type": "embedding_similarity"}

    values = _score(params, items, ScoringContext())

    a, b = encoder.encode(["I like turtles.", "The capital of France is Paris."])
    assert values[0] == pytest.approx(1.0, abs=1e-5)
    assert values[1] == pytest.approx(float(a @ b), abs=1e-6)
    assert values[2] is None


def test_similarity_to_exemplars_takes_the_max_or_the_mean(encoder: Encoder) -> None:
    exemplars = ["Thank you for asking!", "Here is a detailed answer."]
    response = "Thanks for the question!"
    r, e1, e2 = encoder.encode([response, *exemplars])
    base = {"name": "sim", "type": "embedding_similarity", "against": "exemplars",
            "exemplars": exemplars}  # fmt: skip
    items = [ScoreItem("q", response)]

    best = _score({**base, "aggregate": "max"}, items, ScoringContext())
    mean = _score({**base, "aggregate": "mean"}, items, ScoringContext())

    assert best == [pytest.approx(max(float(r @ e1), float(r @ e2)), abs=1e-6)]
    assert mean == [pytest.approx((float(r @ e1) + float(r @ e2)) / 2, abs=1e-6)]


def test_cached_rescoring_does_not_call_the_encoder(encoder: Encoder) -> None:
    store = MemoryEmbeddingStore()
    texts = ["alpha beta", "gamma delta", "alpha beta"]
    first = Embedder(encoder, store)
    calls, encoded = encoder.calls, encoder.texts_encoded

    vectors = first.embed(texts)
    assert (encoder.calls - calls, encoder.texts_encoded - encoded) == (1, 2)  # one per text

    again = Embedder(encoder, store).embed(texts)
    assert (encoder.calls - calls, encoder.texts_encoded - encoded) == (1, 2)
    assert np.array_equal(vectors, again)
    assert len(store.vectors) == 2


def _train_head(encoder: Encoder, kind: str) -> tuple[torch.nn.Module, HeadConfig]:
    """A tiny head that learns to prefer polite answers, trained here in a few steps."""
    torch.manual_seed(0)
    prompts = ["Help me."] * 4
    responses = ["Please, here is help.", "Go away.", "Happy to help, please ask.", "No."]
    labels = torch.tensor([1.0, -1.0, 1.0, -1.0])
    config = HeadConfig(kind=kind, backbone=DEFAULT_BACKBONE, embedding_dim=384,
                        hidden_dim=8 if kind == "mlp" else None)  # fmt: skip
    module = build_head(config)
    features = head_features(config, encoder.encode(prompts), encoder.encode(responses))
    optimiser = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(50):
        optimiser.zero_grad()
        loss = ((module(features).squeeze(-1) - labels) ** 2).mean()
        loss.backward()
        optimiser.step()
    return module.eval(), config


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_saved_head_scores_as_the_trained_module(
    encoder: Encoder, tmp_path: Path, kind: str
) -> None:
    module, config = _train_head(encoder, kind)
    save_head(module, config, tmp_path / "head")
    loaded, loaded_config = load_head(tmp_path / "head")
    items = [ScoreItem("Help me.", "Please, let me help."), ScoreItem("Help me.", "Go away now.")]
    resources = ScoringResources(
        heads={"rm": HeadArtifact(model_id=1, directory=str(tmp_path / "head"),
                                  backbone=DEFAULT_BACKBONE)}
    )  # fmt: skip

    values = _score({"name": "rm", "type": "reward_model"}, items, ScoringContext(resources))

    prompts = encoder.encode([i.prompt for i in items])
    features = head_features(config, prompts, encoder.encode([i.response for i in items]))
    with torch.no_grad():
        expected = module(features).squeeze(-1).tolist()
    assert loaded_config == config
    assert values == pytest.approx(expected, abs=1e-5)
    assert values[0] > values[1]


def test_the_scorer_encodes_every_needed_text_in_one_call_and_combines(encoder: Encoder) -> None:
    spec = RewardSpec.model_validate({
        "components": [
            {"name": "sim", "type": "embedding_similarity"},
            {"name": "polite", "type": "contains", "substrings": ["please"]},
        ],
        "transforms": {"polite": [{"clip": {"high": 0.5}}]},
        "combine": {"op": "weighted_sum", "weights": {"sim": 1.0, "polite": 2.0}},
    })  # fmt: skip
    scorer = Scorer(spec, ScoringResources(embedding_store=MemoryEmbeddingStore()))
    items = [ScoreItem("q", "Yes please, 42.", "42"), ScoreItem("q", "No.", None)]
    calls = encoder.calls

    results = scorer.score(items, fitted_without_data(spec))

    sim = results[0].components["sim"]
    assert encoder.calls - calls == 1  # responses and references together
    assert results[0].components == {"sim": sim, "polite": 1.0}
    assert results[0].reward == pytest.approx(sim * 1.0 + 0.5 * 2.0)
    # No reference: sim is missing and the weights renormalise onto `polite`: 3/2 · 0 = 0.
    assert (results[1].reward, results[1].components) == (0.0, {"sim": None, "polite": 0.0})
