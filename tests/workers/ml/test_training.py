"""Training reward heads on the packaged MiniLM: heads, ensembles, criteria, metrics, cancel."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from workers.contracts import (
    HEAD_CONFIG_FILE,
    HEAD_FILES,
    HEAD_WEIGHTS_FILE,
    PAIR_REWARDS,
    HeadArtifact,
    MemoryEmbeddingStore,
    RatedResponse,
    ScoreItem,
    ScoringResources,
    TrainingCancelled,
    TrainingPair,
    TrainingProgress,
    prompt_as_text,
    text_hash,
)
from workers.ml.components import ScoringContext, build_component
from workers.ml.embeddings import DEFAULT_BACKBONE, Encoder, load_encoder
from workers.ml.heads import RewardHead, context_texts, head_features, load_head, prompt_tails
from workers.ml.training import train_reward_model
from workers.ml.training.bradley_terry import MIN_IMPROVEMENT, pair_loss, smoothed
from workers.ml.training.metrics import pair_metrics
from workers.rewards import spec
from workers.training.settings import TrainingSettings

TOPICS = [
    "bake bread",
    "fix a bike",
    "learn python",
    "plant tomatoes",
    "write a resume",
    "save money",
    "train a dog",
    "paint a wall",
    "brew coffee",
    "tie a tie",
    "change a tyre",
    "start running",
    "grow basil",
    "clean an oven",
    "sleep better",
    "make pasta",
    "knit a scarf",
    "learn chess",
    "pack a suitcase",
    "build a shelf",
]
POLITE = "Happy to help you {topic}: start small, follow the steps, and ask me anything."
FAST = {"epochs": 30, "learning_rate": 5e-3, "hidden_dim": 16, "patience": 5}


def _pairs(topics: list[str] = TOPICS, *, every: int = 4) -> list[TrainingPair]:
    """Polite, helpful answers preferred to rude ones; every `every`-th prompt validates."""
    return [
        TrainingPair(
            pair_id=100 + i,
            prompt_id=i,
            prompt=(("user", f"How do I {topic}?"),),
            chosen=POLITE.format(topic=topic),
            rejected=f"No. Figure out how to {topic} yourself.",
            split="validation" if i % every == 0 else "train",
            strength=i % 3,
            agreement=1.0 if i % 2 else 0.5,
        )
        for i, topic in enumerate(topics)
    ]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return load_encoder(DEFAULT_BACKBONE)


@pytest.fixture(scope="module")
def store() -> MemoryEmbeddingStore:
    """Shared by the tests of this module, so each text is encoded once."""
    return MemoryEmbeddingStore()


def _component(directory: Path, store: MemoryEmbeddingStore | None = None):  # type: ignore[no-untyped-def]
    resources = ScoringResources(
        heads={"rm": HeadArtifact(model_id=1, directory=str(directory), backbone="")},
        embedding_store=store,
    )
    return build_component(
        spec.RewardModel(name="rm", type="reward_model"), ScoringContext(resources)
    )


def _score(
    directory: Path, items: list[ScoreItem], store: MemoryEmbeddingStore | None = None
) -> list:
    component = _component(directory, store)
    for backbone, texts in component.texts_to_embed(items).items():
        component.context.embedder(backbone).prefetch(texts)
    return component.score(items)


def test_a_head_learns_a_known_preference_and_scores_through_the_component(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    progress: list[TrainingProgress] = []

    outcome = train_reward_model(
        pairs=_pairs(),
        settings=TrainingSettings(**FAST),
        embedding_store=store,
        out_directory=tmp_path,
        on_progress=progress.append,
    )

    assert outcome.metrics["accuracy"] == 1.0
    assert outcome.metrics["validation_pairs"] == 5
    assert outcome.metrics["train_pairs"] == 15
    assert (outcome.head_kind, outcome.backbone, outcome.files) == (
        "mlp",
        DEFAULT_BACKBONE,
        HEAD_FILES,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(HEAD_FILES)
    config = json.loads((tmp_path / HEAD_CONFIG_FILE).read_text())
    assert (config["features"], config["interactions"], config["prompt_tokens"]) == (
        "prompt_response",
        True,
        254,
    )
    assert (config["kind"], config["hidden_dim"], config["context_tokens"]) == ("mlp", 16, None)
    # Progress: embedding first, then one report per epoch, ending at 1.0.
    stages = [p.stage for p in progress]
    assert stages[0] == "embedding"
    assert stages[-1] == "evaluating"
    epochs = [p.epoch for p in progress if p.stage == "training"]
    assert epochs == list(range(1, len(outcome.history) + 1))
    assert [p.fraction for p in progress] == sorted(p.fraction for p in progress)
    assert progress[-1].fraction == 1.0
    # The saved head prefers the polite answer to a new prompt.
    items = [
        ScoreItem("How do I cook rice?", "Happy to help you cook rice: rinse it, then simmer."),
        ScoreItem("How do I cook rice?", "No. Figure out how to cook rice yourself."),
    ]
    polite, rude = _score(tmp_path, items, store)
    assert polite > rude


def test_early_stopping_keeps_the_epoch_with_the_best_validation_loss(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    settings = TrainingSettings(**{**FAST, "epochs": 200, "patience": 2, "learning_rate": 0.05})

    outcome = train_reward_model(
        pairs=_pairs(), settings=settings, embedding_store=store, out_directory=tmp_path
    )

    losses = [row["validation_loss"] for row in outcome.history]
    assert len(losses) < 200  # stopped early
    best = min(losses[:-2])
    assert all(loss > best - MIN_IMPROVEMENT for loss in losses[-2:])  # two epochs without
    assert outcome.metrics["loss"] == pytest.approx(min(losses), rel=1e-4)


def test_a_prompt_in_both_splits_is_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    pairs = _pairs()
    leak = TrainingPair(999, pairs[1].prompt_id, pairs[1].prompt, "a", "b", "validation")

    with pytest.raises(
        ValueError,
        match=r"1 prompt\(s\) are in both the train and the validation split \(prompt ids 1\)",
    ):
        train_reward_model(
            pairs=[*pairs, leak],
            settings=TrainingSettings(),
            embedding_store=None,
            out_directory=tmp_path,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([p for p in _pairs() if p.split == "validation"], "there are no training pairs"),
        (_pairs(every=100), "the validation split has 1 usable pair"),
        (
            [TrainingPair(1, 1, (("user", "q"),), "a", "b", "train", target=1.5)],
            "pair 1: target 1.5 is not within 0..1",
        ),
    ],
)
def test_unusable_input_is_refused_with_a_clear_error(
    pairs: list[TrainingPair], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        train_reward_model(
            pairs=pairs, settings=TrainingSettings(), embedding_store=None, out_directory=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_ties_are_dropped_or_kept_as_half_targets(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    pairs = _pairs()
    tie = TrainingPair(
        500,
        500,
        (("user", "How do I bake bread?"),),
        pairs[0].chosen,
        pairs[1].chosen,
        "train",
        target=0.5,
    )
    settings = {**FAST, "epochs": 2}

    dropped = train_reward_model(
        pairs=[*pairs, tie],
        settings=TrainingSettings(**settings),
        embedding_store=store,
        out_directory=tmp_path / "a",
    )
    kept = train_reward_model(
        pairs=[*pairs, tie],
        settings=TrainingSettings(**settings, ties="half"),
        embedding_store=store,
        out_directory=tmp_path / "b",
    )

    assert (dropped.metrics["train_pairs"], kept.metrics["train_pairs"]) == (15, 16)


def test_the_loss_is_minus_log_sigmoid_of_the_difference_less_the_margin() -> None:
    chosen = torch.tensor([1.0, 0.5, 2.0])
    rejected = torch.tensor([0.0, 1.0, 2.0])
    strengths = [0, 1, 3]
    settings = TrainingSettings(use_margin=True, margin_scale=0.5)
    margins = torch.tensor([settings.margin(s) for s in strengths])
    ones = torch.ones(3)

    with_margin = float(pair_loss(chosen, rejected, ones, margins))
    without = float(pair_loss(chosen, rejected, ones, torch.zeros(3)))

    assert margins.tolist() == [0.0, 0.5, 1.5]
    by_hand = [
        -math.log(1 / (1 + math.exp(-(c - r - m))))
        for c, r, m in [(1.0, 0.0, 0.0), (0.5, 1.0, 0.5), (2.0, 2.0, 1.5)]
    ]
    assert with_margin == pytest.approx(sum(by_hand) / 3, rel=1e-6)
    assert without == pytest.approx(
        sum(-math.log(1 / (1 + math.exp(-(c - r)))) for c, r in [(1, 0), (0.5, 1), (2, 2)]) / 3,
        rel=1e-6,
    )
    assert with_margin > without
    assert TrainingSettings(use_margin=False).margin(3) == 0.0
    # A tie (target 0.5) at d = 0 costs log 2; smoothing 0.1 moves 1 to 0.9 and 0 to 0.1.
    assert float(
        pair_loss(torch.zeros(1), torch.zeros(1), torch.tensor([0.5]), torch.zeros(1))
    ) == pytest.approx(math.log(2))
    assert smoothed(torch.tensor([1.0, 0.0, 0.5]), 0.1).tolist() == pytest.approx([0.9, 0.1, 0.5])


def test_metrics_match_a_hand_computed_example() -> None:
    # d = r_c − r_r: 2.0 (right), −1.0 (wrong), 0.5 (right), 3.0 (right); the last pair a tie.
    metrics = pair_metrics(
        chosen=np.array([2.0, 0.0, 0.5, 3.0, 1.0]),
        rejected=np.array([0.0, 1.0, 0.0, 0.0, 0.0]),
        targets=np.array([1.0, 1.0, 1.0, 1.0, 0.5]),
        margins=np.zeros(5),
        strengths=[0, 1, 1, None, 2],
        agreements=[1.0, 0.5, 0.7, 0.9, None],
        chosen_lengths=[10, 50, 20, 5, 1],
        rejected_lengths=[30, 10, 40, 5, 1],
    )

    sigma = [1 / (1 + math.exp(-d)) for d in (2.0, -1.0, 0.5, 3.0)]
    confidence = [max(p, 1 - p) for p in sigma]  # 0.881, 0.731, 0.622, 0.953
    assert metrics["accuracy"] == 0.75
    assert metrics["validation_pairs"] == 4
    expected_loss = (
        sum(-math.log(p) for p in sigma)
        + math.log(1 + math.exp(-1.0)) / 2
        + math.log(1 + math.exp(1.0)) / 2
    ) / 5
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-9)
    bins = metrics["reliability"]
    assert [b["count"] for b in bins] == [0, 1, 1, 1, 1]
    assert bins[1] == {
        "bin_low": 0.6,
        "bin_high": 0.7,
        "mean_predicted": pytest.approx(confidence[2]),
        "observed": 1.0,
        "count": 1,
    }
    assert bins[2]["observed"] == 0.0  # the wrong one, confident at 0.731
    ece = (
        abs(confidence[2] - 1)
        + abs(confidence[1] - 0)
        + abs(confidence[0] - 1)
        + abs(confidence[3] - 1)
    ) / 4
    assert metrics["ece"] == pytest.approx(ece, rel=1e-9)
    assert metrics["accuracy_by_strength"] == {
        "0": {"accuracy": 1.0, "count": 1},
        "1": {"accuracy": 0.5, "count": 2},
    }
    assert metrics["accuracy_by_agreement"] == {
        "<60%": {"accuracy": 0.0, "count": 1},
        "60–80%": {"accuracy": 1.0, "count": 1},
        "≥80%": {"accuracy": 1.0, "count": 2},
    }
    # The longer response lost in pairs 1 and 3 (rejected longer), both right.
    assert (metrics["longer_lost_accuracy"], metrics["longer_lost_pairs"]) == (1.0, 2)
    low, high = metrics["accuracy_ci"]
    assert 0.0 <= low <= 0.75 <= high == 1.0


def test_an_ensemble_has_spread_and_scores_the_mean_of_its_members(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    outcome = train_reward_model(
        pairs=_pairs(),
        settings=TrainingSettings(**FAST, ensemble_size=3, features="response"),
        embedding_store=store,
        out_directory=tmp_path,
    )

    assert outcome.head_kind == "ensemble"
    assert outcome.metrics["uncertainty"] > 0
    module, config = load_head(tmp_path)
    assert isinstance(module, RewardHead)
    assert len(module.members) == 3
    items = [
        ScoreItem("How do I swim?", "Happy to help you swim."),
        ScoreItem("How do I swim?", "No."),
    ]
    values = _score(tmp_path, items, store)
    vectors = load_encoder(DEFAULT_BACKBONE).encode([i.response for i in items])
    with torch.no_grad():
        members = module.member_rewards(head_features(config, None, vectors))
    assert values == pytest.approx(members.mean(dim=1).tolist(), abs=1e-5)
    assert float(members.std(dim=1).max()) > 0


def test_per_criterion_heads_learn_ratings_and_are_saved(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    rated = [
        RatedResponse(
            i,
            (("user", f"How do I {t}?"),),
            text,
            "validation" if i % 4 == 0 else "train",
            {"helpful": value, **({"safe": 1.0} if i % 2 == 0 else {})},
        )
        for i, t in enumerate(TOPICS)
        for text, value in (
            (POLITE.format(topic=t), 0.9),
            (f"No. Figure out how to {t} yourself.", 0.1),
        )
    ]

    outcome = train_reward_model(
        pairs=_pairs(),
        rated=rated,
        settings=TrainingSettings(**FAST),
        embedding_store=store,
        out_directory=tmp_path,
    )

    criteria = outcome.metrics["criteria"]
    assert sorted(criteria) == ["helpful", "safe"]
    assert criteria["helpful"]["mae"] < 0.2
    assert criteria["helpful"]["pearson"] > 0.9
    assert criteria["safe"]["pearson"] is None  # every rating is 1.0: no correlation
    module, config = load_head(tmp_path)
    assert config.criteria == ("helpful", "safe")
    assert len(module.criteria) == 2


def test_cancelling_raises_and_leaves_no_head(store: MemoryEmbeddingStore, tmp_path: Path) -> None:
    progress: list[TrainingProgress] = []

    def should_stop() -> bool:
        return any(p.stage == "training" for p in progress)

    with pytest.raises(TrainingCancelled):
        train_reward_model(
            pairs=_pairs(),
            settings=TrainingSettings(**FAST),
            embedding_store=store,
            out_directory=tmp_path,
            on_progress=progress.append,
            should_stop=should_stop,
        )
    assert list(tmp_path.iterdir()) == []
    assert progress[-1].stage == "training"


def test_an_embedding_cache_hit_does_not_call_the_encoder(encoder: Encoder, tmp_path: Path) -> None:
    pairs = _pairs(TOPICS[:8], every=2)
    settings = TrainingSettings(**FAST, features="prompt_response")
    filled = MemoryEmbeddingStore()
    train_reward_model(
        pairs=pairs, settings=settings, embedding_store=filled, out_directory=tmp_path / "first"
    )
    prompts = {prompt_as_text(p.prompt) for p in pairs}
    responses = {p.chosen for p in pairs} | {p.rejected for p in pairs}
    assert {h for _, h in filled.vectors} == {text_hash(t) for t in prompts | responses}
    calls, encoded = encoder.calls, encoder.texts_encoded

    train_reward_model(
        pairs=pairs, settings=settings, embedding_store=filled, out_directory=tmp_path / "second"
    )

    assert (encoder.calls, encoder.texts_encoded) == (calls, encoded)


def test_the_model_in_use_is_measured_on_the_same_validation_split(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    first = train_reward_model(
        pairs=_pairs(),
        settings=TrainingSettings(**FAST, features="context_response"),
        embedding_store=store,
        out_directory=tmp_path / "old",
    )

    second = train_reward_model(
        pairs=_pairs(),
        settings=TrainingSettings(**FAST, head_kind="linear", features="response"),
        embedding_store=store,
        out_directory=tmp_path / "new",
        baseline_head=tmp_path / "old",
    )

    assert second.baseline_metrics is not None
    for key in ("accuracy", "validation_pairs", "accuracy_by_strength", "longer_lost_pairs"):
        assert second.baseline_metrics[key] == first.metrics[key]
    assert second.baseline_metrics["loss"] == pytest.approx(first.metrics["loss"], abs=1e-5)
    assert second.baseline_metrics["ece"] == pytest.approx(first.metrics["ece"], abs=1e-5)


def test_each_decided_validation_pair_keeps_its_reward_difference(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    """What lets two models be compared on the pairs both held out (issue 16, 4): the
    model's and the baseline's r_chosen − r_rejected per pair, keyed by the responses."""
    from dataclasses import replace

    pairs = [replace(p, chosen_id=2 * p.prompt_id + 1, rejected_id=2 * p.prompt_id + 2)
             for p in _pairs()]  # fmt: skip
    pairs[4] = replace(pairs[4], target=0.5)  # a kept tie: no right answer, not listed
    settings = TrainingSettings(**FAST, ties="half")
    train_reward_model(pairs=pairs, settings=settings, embedding_store=store,
                       out_directory=tmp_path / "old")  # fmt: skip

    outcome = train_reward_model(
        pairs=pairs,
        settings=settings,
        embedding_store=store,
        out_directory=tmp_path / "new",
        baseline_head=tmp_path / "old",
    )

    validation = [p for p in pairs if p.split == "validation" and p.target != 0.5]
    assert outcome.baseline_metrics is not None
    for metrics in (outcome.metrics, outcome.baseline_metrics):
        rows = metrics[PAIR_REWARDS]
        assert [row[:3] for row in rows] == [
            [p.pair_id, p.chosen_id, p.rejected_id] for p in validation
        ]
        assert sum(row[3] > 0 for row in rows) / len(rows) == metrics["accuracy"]


def test_a_format_1_head_still_loads_and_scores(encoder: Encoder, tmp_path: Path) -> None:
    torch.manual_seed(0)
    legacy = torch.nn.Sequential(torch.nn.Linear(768, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    torch.save(legacy.state_dict(), tmp_path / HEAD_WEIGHTS_FILE)
    (tmp_path / HEAD_CONFIG_FILE).write_text(
        json.dumps(
            {
                "format": "palate-head/1",
                "kind": "mlp",
                "backbone": DEFAULT_BACKBONE,
                "features": "prompt_response",
                "embedding_dim": 384,
                "hidden_dim": 8,
            }
        )
    )
    items = [ScoreItem("Help me.", "Sure, here you go."), ScoreItem("Help me.", "No.")]

    values = _score(tmp_path, items)

    prompts = encoder.encode([i.prompt for i in items])
    responses = encoder.encode([i.response for i in items])
    with torch.no_grad():
        expected = legacy(torch.from_numpy(np.concatenate([prompts, responses], 1))).squeeze(-1)
    assert values == pytest.approx(expected.tolist(), abs=1e-5)


def test_context_texts_keep_the_latest_turns_and_the_response(encoder: Encoder) -> None:
    tokenizer = encoder.model.tokenizer
    turns = (("user", "first question " * 200), ("assistant", "an answer"), ("user", "LATEST ASK"))
    prompt = prompt_as_text(turns)

    (text,) = context_texts([prompt], ["the response"], tokenizer, 64)

    assert text.startswith("…")
    assert text.endswith("user: LATEST ASK\n\nassistant: the response")
    assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= 64 + 1
    tails = prompt_tails([prompt, "Hi?", prompt], tokenizer, 16)
    assert tails[0] == tails[2]
    assert tails[0].startswith("…")
    assert tails[0].endswith("an answer\n\nuser: LATEST ASK")
    assert len(tokenizer(tails[0][1:], add_special_tokens=False)["input_ids"]) == 16
    assert tails[1] == "Hi?"
    (short,) = context_texts(["Hi?"], ["Hello."], tokenizer, 64)
    assert short == "Hi?\n\nassistant: Hello."
    assert prompt_as_text((("user", "plain"),)) == "plain"
    assert prompt == f"user: {'first question ' * 200}\n\nassistant: an answer\n\nuser: LATEST ASK"


def test_settings_reject_unknown_or_out_of_range_fields() -> None:
    with pytest.raises(ValidationError) as error:
        TrainingSettings.model_validate({"ensemble_size": 17, "colour": "red"})
    fields = sorted(".".join(map(str, e["loc"])) for e in error.value.errors())
    assert fields == ["colour", "ensemble_size"]
    defaults = TrainingSettings()
    assert (defaults.trainer, defaults.head_kind, defaults.features) == (
        "head",
        "mlp",
        "prompt_response",
    )
    assert TrainingSettings.model_validate(defaults.model_dump()) == defaults
    assert (defaults.hidden_dim, defaults.ensemble_size, defaults.epochs) == (64, 1, 40)


def test_finetune_runs_a_few_steps_on_cpu_and_its_model_scores_via_the_component(
    tmp_path: Path,
) -> None:
    pairs = _pairs(TOPICS[:8], every=4)
    settings = TrainingSettings(
        trainer="finetune",
        max_steps=2,
        finetune_batch_size=2,
        max_length=48,
        center_rewards_coefficient=0.01,
    )
    progress: list[TrainingProgress] = []

    outcome = train_reward_model(
        pairs=pairs,
        settings=settings,
        embedding_store=None,
        out_directory=tmp_path,
        on_progress=progress.append,
    )

    assert outcome.head_kind == "finetune"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(HEAD_FILES)
    assert [p.message for p in progress if p.message.startswith("step")] == [
        "step 1 of 2",
        "step 2 of 2",
    ]
    assert len(outcome.history) == 1
    assert outcome.metrics["validation_pairs"] == 2
    module, config = load_head(tmp_path)
    assert (config.kind, config.context_tokens) == ("finetune", 48)
    items = [ScoreItem(prompt_as_text(p.prompt), p.chosen) for p in pairs[:2]]
    values = _score(tmp_path, items)
    expected = module.score_texts(
        module.texts([i.prompt for i in items], [i.response for i in items])
    )
    assert values == pytest.approx(expected, abs=1e-5)
    assert len(set(values)) == 2


def test_a_baseline_that_cannot_be_loaded_is_reported_not_fatal(
    store: MemoryEmbeddingStore, tmp_path: Path
) -> None:
    (tmp_path / "old").mkdir()

    outcome = train_reward_model(
        pairs=_pairs(),
        settings=TrainingSettings(**{**FAST, "features": "response", "epochs": 2}),
        embedding_store=store,
        out_directory=tmp_path / "new",
        baseline_head=tmp_path / "old",
    )

    assert outcome.baseline_metrics is None
    assert str(outcome.metrics["baseline_error"]).startswith(
        f"cannot load the reward head in {tmp_path / 'old'}"
    )
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(HEAD_FILES)
