"""The frozen training data: which items, with which answer, in which split."""

from __future__ import annotations

import pytest

from apps.accounts.settings_schema import ConsensusRule
from apps.annotation.models import Comparison, ReviewDecision
from apps.core.errors import ApplicationError
from apps.reward_models.snapshot import (
    snapshot_check,
    snapshot_pairs,
    snapshot_rated,
    snapshot_take,
    split_prompts,
)
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.reward_models.factories import pair, preference_project, vote
from workers.training.settings import TrainingSettings

pytestmark = pytest.mark.django_db

DEFAULTS = TrainingSettings()


def _items(snapshot):  # type: ignore[no-untyped-def]
    return {tuple(item[:4]): tuple(item[4:]) for item in snapshot["items"]}


def test_it_freezes_the_consensus_of_each_pair_exactly(project):  # type: ignore[no-untyped-def]
    ann = [UserFactory(username=f"s{n}") for n in range(3)]
    majority = pair(project, "Q1", "x1", "y1")
    v1 = vote(majority, ann[0], "a", 2)
    v2 = vote(majority, ann[1], "a", 0)
    v3 = vote(majority, ann[2], "b", 1)
    split_even = pair(project, "Q2", "x2", "y2")
    v4 = vote(split_even, ann[0], "a")
    v5 = vote(split_even, ann[1], "b")
    b_wins = pair(project, "Q3", "x3", "y3")
    old = vote(b_wins, ann[0], "a", 3)
    new = vote(b_wins, ann[0], "b", 1, supersedes=old)  # the edit is the label in force
    tie = pair(project, "Q4", "x4", "y4")
    v6 = vote(tie, ann[0], "tie", 1)

    snapshot = snapshot_take(project=project, settings=DEFAULTS)

    assert _items(snapshot) == {
        # comparison, prompt, chosen, rejected: target, strength (lower median), agreement
        (majority.pk, majority.prompt_id, majority.response_a_id, majority.response_b_id):
            (1.0, 0, round(2 / 3, 6)),
        (b_wins.pk, b_wins.prompt_id, b_wins.response_b_id, b_wins.response_a_id): (1.0, 1, 1.0),
    }  # fmt: skip
    assert snapshot["label_ids"] == sorted([v1.pk, v2.pk, v3.pk, v4.pk, v5.pk, new.pk, v6.pk])
    assert snapshot["skipped"] == {
        "no consensus (votes split evenly)": 1,
        "tie or both bad (ties: drop)": 1,
    }
    assert snapshot["consensus_rule"] == "review decisions, else majority"
    assert snapshot["rubric_version_ids"] == []
    assert (snapshot["ties"], snapshot["include_imported"]) == ("drop", True)


def test_ties_and_both_bad_are_half_targets_when_kept(project):  # type: ignore[no-untyped-def]
    annotator = UserFactory(username="tie-maker")
    tie = pair(project, "Q1", "x1", "y1")
    vote(tie, annotator, "tie", 2)
    both_bad = pair(project, "Q2", "x2", "y2")
    vote(both_bad, annotator, "both_bad")

    snapshot = snapshot_take(project=project, settings=TrainingSettings(ties="half"))

    assert _items(snapshot) == {
        (tie.pk, tie.prompt_id, tie.response_a_id, tie.response_b_id): (0.5, None, 1.0),
        (both_bad.pk, both_bad.prompt_id, both_bad.response_a_id, both_bad.response_b_id):
            (0.5, None, 1.0),
    }  # fmt: skip


def test_a_review_decision_overrides_the_vote_and_imports_can_be_left_out(project):  # type: ignore[no-untyped-def]
    annotator, reviewer = UserFactory(username="voter"), UserFactory(username="reviewer")
    reviewed = pair(project, "Q1", "x1", "y1")
    vote(reviewed, annotator, "a", 1)
    ReviewDecision.objects.create(comparison=reviewed, reviewer=reviewer, choice="b")
    imported = pair(project, "Q2", "x2", "y2")
    imported_label = vote(imported, None, "a")

    with_imports = snapshot_take(project=project, settings=DEFAULTS)
    without = snapshot_take(project=project, settings=TrainingSettings(include_imported=False))

    reviewed_key = (reviewed.pk, reviewed.prompt_id, reviewed.response_b_id, reviewed.response_a_id)
    imported_key = (imported.pk, imported.prompt_id, imported.response_a_id, imported.response_b_id)
    # The reviewer's b wins; no vote for b carried a strength; the voter disagreed.
    assert _items(with_imports) == {reviewed_key: (1.0, None, 0.0), imported_key: (1.0, None, 1.0)}
    assert _items(without) == {reviewed_key: (1.0, None, 0.0)}
    assert imported_label.pk not in without["label_ids"]


def test_a_ranking_label_votes_on_every_pair_it_implies(project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project, input="Rank these")
    first, second, third = (ResponseFactory(prompt=prompt, text=t) for t in ("r1", "r2", "r3"))
    ranking = Comparison.objects.create(project=project, prompt=prompt, kind="ranking")
    ranking.ranked_responses.set([first, second, third])
    vote(ranking, UserFactory(username="ranker"), "", ranking=[third.pk, first.pk, second.pk])

    snapshot = snapshot_take(project=project, settings=DEFAULTS)

    assert _items(snapshot) == {
        (ranking.pk, prompt.pk, third.pk, first.pk): (1.0, None, 1.0),
        (ranking.pk, prompt.pk, third.pk, second.pk): (1.0, None, 1.0),
        (ranking.pk, prompt.pk, first.pk, second.pk): (1.0, None, 1.0),
    }


def test_dawid_skene_projects_freeze_its_answers(project):  # type: ignore[no-untyped-def]
    project.annotation_settings = {**project.annotation_settings, "consensus": "dawid_skene"}
    project.save()
    comparisons = preference_project(project, prompts=4, voters=2)

    snapshot = snapshot_take(project=project, settings=DEFAULTS)

    assert snapshot["consensus_rule"] == f"review decisions, else {ConsensusRule.DAWID_SKENE}"
    chosen = {item[0]: item[2] for item in snapshot["items"]}
    expected = {c.pk: (c.response_a_id if i % 2 == 0 else c.response_b_id)
                for i, c in enumerate(comparisons)}  # fmt: skip
    assert chosen == expected


def test_the_split_is_by_prompt_seeded_and_never_leaks(project):  # type: ignore[no-untyped-def]
    comparisons = preference_project(project, prompts=20)
    # A second pair on an already used prompt must land in the same split as the first.
    extra_prompt = comparisons[0].prompt
    a = ResponseFactory(prompt=extra_prompt, text="Another answer about it.")
    b = ResponseFactory(prompt=extra_prompt, text="Yet another answer.")
    extra = Comparison.objects.create(
        project=project, prompt=extra_prompt, response_a=a, response_b=b
    )
    vote(extra, UserFactory(username="extra-voter"), "a")

    settings = TrainingSettings(validation_fraction=0.25, seed=7)
    snapshot = snapshot_take(project=project, settings=settings)
    again = snapshot_take(project=project, settings=settings)
    other_seed = snapshot_take(
        project=project, settings=TrainingSettings(validation_fraction=0.25, seed=8)
    )

    splits = snapshot["prompt_splits"]
    assert sorted(splits.values()).count("validation") == 5  # ceil(0.25 * 20 prompts)
    assert splits == again["prompt_splits"]
    assert splits != other_seed["prompt_splits"]
    pairs = snapshot_pairs(snapshot)
    train = {p.prompt_id for p in pairs if p.split == "train"}
    validation = {p.prompt_id for p in pairs if p.split == "validation"}
    assert train & validation == set()
    assert len(pairs) == 21
    assert snapshot["counts"] == {
        "train": sum(p.split == "train" for p in pairs),
        "validation": sum(p.split == "validation" for p in pairs),
    }


def test_a_snapshot_with_a_prompt_outside_the_splits_is_refused(project):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=4)
    snapshot = snapshot_take(project=project, settings=DEFAULTS)
    leaked = {**snapshot, "prompt_splits": dict(list(snapshot["prompt_splits"].items())[1:])}
    missing = next(iter(snapshot["prompt_splits"]))

    with pytest.raises(ApplicationError) as caught:
        snapshot_check(leaked)

    assert caught.value.message == (
        f"The snapshot puts prompt {missing} in no known split (None); "
        "a prompt must be in exactly one of train and validation."
    )


def test_split_prompts_keeps_one_prompt_for_each_side_when_it_can():  # type: ignore[no-untyped-def]
    assert sorted(split_prompts([5, 6], fraction=0.01, seed=0).values()) == ["train", "validation"]
    assert split_prompts([5], fraction=0.5, seed=0) == {5: "train"}


def test_pairs_carry_texts_and_turns(project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project, input=[{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "Hi?"}])  # fmt: skip
    a, b = (
        ResponseFactory(prompt=prompt, text="Hello!"),
        ResponseFactory(prompt=prompt, text="Go away."),
    )
    comparison = Comparison.objects.create(
        project=project, prompt=prompt, response_a=a, response_b=b
    )
    vote(comparison, UserFactory(username="chat-voter"), "a", 2)

    (only,) = snapshot_pairs(snapshot_take(project=project, settings=DEFAULTS))

    assert (only.pair_id, only.prompt_id, only.prompt, only.chosen, only.rejected, only.split,
            only.target, only.strength, only.agreement) == (
        comparison.pk, prompt.pk, (("system", "Be brief."), ("user", "Hi?")), "Hello!",
        "Go away.", "train", 1.0, 2, 1.0,
    )  # fmt: skip


def test_nothing_to_train_on_is_a_clear_error(project):  # type: ignore[no-untyped-def]
    vote(pair(project, "Q", "x", "y"), UserFactory(username="tied"), "tie")

    with pytest.raises(ApplicationError, match="There are no usable labels to train on"):
        snapshot_take(project=project, settings=DEFAULTS)


def test_ratings_are_frozen_as_scaled_means_per_response(project, django_assert_num_queries):  # type: ignore[no-untyped-def]
    from apps.rubrics.services import rubric_create

    rubric = rubric_create(
        project=project, name="Quality", error_categories=[],
        criteria=[{"name": "helpful", "scale": {"min": 1, "max": 5}},
                  {"name": "safe", "scale": {"min": 0, "max": 2}}],
    )  # fmt: skip
    version = rubric.versions.get()
    comparison = pair(project, "Q1", "good", "bad")
    a, b = comparison.response_a_id, comparison.response_b_id
    first, second = UserFactory(username="rater-1"), UserFactory(username="rater-2")
    vote(comparison, first, "a", rubric_version=version,
         ratings={str(a): {"helpful": 5, "safe": 2}, str(b): {"helpful": 1}})  # fmt: skip
    vote(comparison, second, "a", rubric_version=version,
         ratings={str(a): {"helpful": 4, "unknown": 3}})  # fmt: skip
    rated_only = pair(project, "Q2", "x", "y")  # its prompt gets a split from the rating alone
    vote(rated_only, first, "tie", rubric_version=version,
         ratings={str(rated_only.response_b_id): {"safe": 1}})  # fmt: skip

    # Labels, review decisions, rubric versions, responses' prompts: as many for any size.
    with django_assert_num_queries(4):
        snapshot = snapshot_take(project=project, settings=DEFAULTS)

    assert snapshot["rated"] == [
        [a, comparison.prompt_id, {"helpful": 0.875, "safe": 1.0}],
        [b, comparison.prompt_id, {"helpful": 0.0}],
        [rated_only.response_b_id, rated_only.prompt_id, {"safe": 0.5}],
    ]
    assert set(snapshot["prompt_splits"]) == {str(comparison.prompt_id), str(rated_only.prompt_id)}
    assert snapshot["rubric_version_ids"] == [version.pk]
    rated = snapshot_rated(snapshot)
    assert [(r.response, dict(r.ratings)) for r in rated] == [
        ("good", {"helpful": 0.875, "safe": 1.0}), ("bad", {"helpful": 0.0}), ("y", {"safe": 0.5}),
    ]  # fmt: skip
