"""Reward function services: versions, spec checks, fitting, score runs with the real engine."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunction, RewardFunctionVersion, Score, ScoreRun
from apps.rewards.services import (
    reward_function_version_create,
    score_items_compute,
    score_run_claim,
    score_run_create,
    score_run_execute,
)
from apps.rubrics.models import Rubric, RubricVersion
from tests.factories import ProjectFactory, PromptFactory, ResponseFactory
from tests.rewards.factories import TEXT_SPEC, responses_for, version_of
from workers.contracts import ScoreItem
from workers.ml.scoring import Scorer

pytestmark = pytest.mark.django_db

ZSCORE_SPEC: dict[str, Any] = {**TEXT_SPEC, "transforms": {"words": ["zscore"]}}


class CountingScorer:
    """The real engine, counting which components it was asked to compute."""

    def __init__(self, version: RewardFunctionVersion) -> None:
        self.scorer = Scorer(version.parsed_spec)
        self.asked: list[tuple[int, tuple[str, ...] | None]] = []

    def __call__(self, items: Any, names: Any) -> Any:
        self.asked.append((len(items), None if names is None else tuple(names)))
        return self.scorer.component_values(items, names)


def _run(version: RewardFunctionVersion) -> tuple[ScoreRun, CountingScorer]:
    run = score_run_create(version=version, created_by=None, enqueue=False)
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    compute = CountingScorer(version)
    return score_run_execute(run=claimed, compute=compute, batch_size=2), compute


def test_it_creates_a_function_with_version_one_fitted_when_no_statistics_are_needed(project):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)

    assert (version.number, version.function.name, version.spec) == (1, "reward", TEXT_SPEC)
    assert version.fitted == {"chains": {}, "fitted_on": 0}
    second = reward_function_version_create(
        function=version.function, spec=ZSCORE_SPEC, created_by=None, message="z-scored"
    )
    assert (second.number, second.fitted, second.message) == (2, None, "z-scored")


def test_a_bad_spec_lists_every_problem_and_writes_nothing(project):  # type: ignore[no-untyped-def]
    spec = {
        "components": [{"name": "bleu", "type": "text_metric", "metric": "meteor"}],
        "combine": {"op": "weighted_sum", "weights": {"other": 1}},
    }

    with pytest.raises(ApplicationError) as error:
        version_of(project, spec)

    assert error.value.message == "The reward spec is not valid."
    assert error.value.extra == {
        "spec": [
            "components[0] (bleu).metric: Input should be 'bleu', 'chrf', 'rouge_l', "
            "'exact_match' or 'fuzzy_match'"
        ]
    }
    assert not RewardFunction.objects.exists()


def test_a_spec_must_refer_to_models_and_rubrics_of_its_project(project):  # type: ignore[no-untyped-def]
    other = RubricVersion.objects.create(
        rubric=Rubric.objects.create(project=ProjectFactory(), name="r"), number=1, criteria=[]
    )
    spec = {
        "components": [
            {"name": "rm", "type": "reward_model", "model": 999},
            {"name": "judge", "type": "rubric_judge", "rubric_version": other.pk,
             "api_key_setting": "SECRET_KEY"},
        ],
        "combine": {"op": "min"},
    }  # fmt: skip

    with pytest.raises(ApplicationError) as error:
        version_of(project, spec)

    assert error.value.extra["spec"] == [
        "components[0] (rm).model: no reward model 999 in this project",
        f"components[1] (judge).rubric_version: no rubric version {other.pk} in this project",
        "components[1] (judge).api_key_setting: must name a setting that starts with JUDGE_ "
        "(keys for judges, nothing else)",
    ]


def test_a_name_is_unique_per_project(project):  # type: ignore[no-untyped-def]
    version_of(project, TEXT_SPEC)

    with pytest.raises(ApplicationError, match="already has a reward function named 'reward'"):
        version_of(project, TEXT_SPEC)
    assert RewardFunctionVersion.objects.count() == 1


def test_a_score_run_scores_every_response_in_batches(project):  # type: ignore[no-untyped-def]
    responses = responses_for(
        project, {"p1": ["see [1] here", "a b c d e f"], "p2": ["one two three"]}
    )
    version = version_of(project, TEXT_SPEC)

    run, _ = _run(version)

    assert (run.status, run.responses_total, run.responses_scored, run.fitted_here) == (
        "succeeded", 3, 3, False,
    )  # fmt: skip
    scores = {s.response_id: (s.total, s.components) for s in Score.objects.filter(version=version)}
    # 3 words: 0 penalty; 6 words: 2 beyond the band of 2–4 → −2.
    assert scores == {
        responses[0].pk: (2.0, {"cites": 1.0, "words": 0.0}),
        responses[1].pk: (-2.0, {"cites": 0.0, "words": -2.0}),
        responses[2].pk: (0.0, {"cites": 0.0, "words": 0.0}),
    }


def test_the_first_run_fits_the_transforms_and_later_scoring_reuses_them(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["a", "a b c", "a b c d"]})  # words −1, 0, 0
    version = version_of(project, ZSCORE_SPEC)

    with pytest.raises(ApplicationError, match="start a score run first"):
        score_items_compute(
            version=version, items=[], compute=Scorer(version.parsed_spec).component_values
        )
    run, _ = _run(version)
    version.refresh_from_db()

    mean, std = -1 / 3, math.sqrt(2) / 3
    chain = version.fitted["chains"]["words"]["steps"][0]
    assert (run.fitted_here, version.fitted["fitted_on"]) == (True, 3)
    assert (chain["mean"], chain["std"]) == (pytest.approx(mean), pytest.approx(std))
    totals = sorted(Score.objects.filter(version=version).values_list("total", flat=True))
    assert totals == pytest.approx([(-1 - mean) / std, -mean / std, -mean / std])
    # A new item later gets the same transform: 6 words is −2 raw.
    answer = score_items_compute(
        version=version,
        items=[ScoreItem("p", "a b c d e [1]")],
        compute=Scorer(version.parsed_spec).component_values,
    )
    assert answer == {
        "results": [
            {
                "reward": pytest.approx(2 * 1.0 + (-2 - mean) / std),
                "components": {"cites": 1.0, "words": -2.0},
            }
        ]
    }


def test_a_new_version_copies_raw_values_of_identical_components(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["see [1]", "a b c d e f"]})
    first = version_of(project, TEXT_SPEC)
    _run(first)
    changed = {
        **TEXT_SPEC,
        "components": [TEXT_SPEC["components"][0],
                       {**TEXT_SPEC["components"][1], "target": 6}],
        "combine": {"op": "weighted_sum", "weights": {"cites": 5.0, "words": 1.0}},
    }  # fmt: skip
    second = reward_function_version_create(function=first.function, spec=changed, created_by=None)

    run, compute = _run(second)

    # Only the changed component was computed; `cites` came from version 1's scores.
    assert compute.asked == [(2, ("words",))]
    assert run.status == "succeeded"
    # "see [1]": 5 · 1 + (2 words, 3 beyond the band 5–7: −3); "a b c d e f": 0.
    assert sorted(Score.objects.filter(version=second).values_list("total", flat=True)) == [
        0.0,
        2.0,
    ]


def _reweighted(spec: dict[str, Any], weights: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {**spec, **extra, "combine": {**spec["combine"], "weights": weights}}


def test_a_weights_only_change_copies_every_value_in_a_fixed_number_of_statements(
    project, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    responses = responses_for(
        project, {"p1": ["see [1] here", "a b c d e f"], "p2": ["one two three", "x [1]"]}
    )
    first = version_of(project, TEXT_SPEC)
    _run(first)
    spec = _reweighted(TEXT_SPEC, {"cites": -1.5, "words": 0.25})
    second = reward_function_version_create(function=first.function, spec=spec, created_by=None)
    run = score_run_create(version=second, created_by=None, enqueue=False)
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    compute = CountingScorer(second)

    # Sources, one read of every raw value, one write, the run row: however many
    # responses and whatever the batch size (the batch path takes 6 a batch).
    with django_assert_num_queries(7):
        done = score_run_execute(run=claimed, compute=compute, batch_size=1)

    assert compute.asked == []
    assert (done.status, done.responses_total, done.responses_scored, done.fitted_here) == (
        "succeeded", 4, 4, False,
    )  # fmt: skip
    scores = {s.response_id: (s.total, s.components) for s in Score.objects.filter(version=second)}
    # words: 3 → 0, 6 → −2, 3 → 0, 2 → 0 (band 2–4); cites 1, 0, 0, 1.
    assert scores == {
        responses[0].pk: (-1.5, {"cites": 1.0, "words": 0.0}),
        responses[1].pk: (-0.5, {"cites": 0.0, "words": -2.0}),
        responses[2].pk: (0.0, {"cites": 0.0, "words": 0.0}),
        responses[3].pk: (-1.5, {"cites": 1.0, "words": 0.0}),
    }
    # The same numbers the scoring endpoint gives for these items.
    answer = score_items_compute(
        version=second,
        items=[ScoreItem(r.prompt.text, r.text) for r in responses],
        compute=Scorer(second.parsed_spec).component_values,
    )
    assert [r["reward"] for r in answer["results"]] == [scores[r.pk][0] for r in responses]


def test_copied_values_keep_missing_ones_and_follow_the_missing_rule(project):  # type: ignore[no-untyped-def]
    responses = responses_for(project, {"p": ["a [1]", "b", "c"]})
    first = version_of(project, TEXT_SPEC)
    _run(first)
    # A judge-like gap: version 1 holds no value for some components of two responses.
    Score.objects.filter(version=first, response=responses[0]).update(
        components={"cites": None, "words": -1.0}
    )
    Score.objects.filter(version=first, response=responses[1]).update(
        components={"cites": None, "words": None}
    )
    skip = reward_function_version_create(
        function=first.function,
        spec=_reweighted(TEXT_SPEC, {"cites": 1.0, "words": 3.0}),
        created_by=None,
    )
    strict = reward_function_version_create(
        function=first.function,
        spec={**_reweighted(TEXT_SPEC, {"cites": 1.0, "words": 3.0}),
              "combine": {"op": "weighted_sum", "weights": {"cites": 1.0, "words": 3.0},
                          "missing": "missing_total"}},
        created_by=None,
    )  # fmt: skip

    for version in (skip, strict):
        run, compute = _run(version)
        assert (run.status, compute.asked) == ("succeeded", [])

    def rows(version: RewardFunctionVersion) -> list[tuple[float | None, dict[str, Any]]]:
        return [
            (s.total, s.components)
            for s in Score.objects.filter(version=version).order_by("response_id")
        ]

    # skip_renormalise: words alone, weight 3 scaled to the total of 4 → 4 · −1.
    assert rows(skip) == [
        (-4.0, {"cites": None, "words": -1.0}),
        (None, {"cites": None, "words": None}),
        (-3.0, {"cites": 0.0, "words": -1.0}),
    ]
    assert rows(strict) == [
        (None, {"cites": None, "words": -1.0}),
        (None, {"cites": None, "words": None}),
        (-3.0, {"cites": 0.0, "words": -1.0}),
    ]


def test_copied_values_are_fitted_per_prompt_with_the_prompts_own_keys(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p1": ["a", "a b c", "a b c d e f"], "p2": ["a b", "a b c d e f g"]})
    per_prompt = {**TEXT_SPEC, "transforms": {"words": ["zscore_per_prompt"]}}
    first = version_of(project, per_prompt)
    _run(first)
    second = reward_function_version_create(
        function=first.function,
        spec=_reweighted(per_prompt, {"cites": 2.0, "words": 5.0}),
        created_by=None,
    )

    run, compute = _run(second)
    first.refresh_from_db()
    second.refresh_from_db()

    assert (run.status, run.fitted_here, compute.asked) == ("succeeded", True, [])
    # Fitted on the same values with the same prompt keys as the batch path fitted them.
    assert second.fitted == first.fitted
    first_totals = dict(Score.objects.filter(version=first).values_list("response_id", "total"))
    second_totals = dict(Score.objects.filter(version=second).values_list("response_id", "total"))
    # cites is 0 everywhere, so the total is the weight times the same z-score.
    assert second_totals == {k: pytest.approx(5.0 * v) for k, v in first_totals.items()}
    assert len(set(first_totals.values())) == 5


def test_a_response_the_earlier_version_never_scored_is_computed(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["see [1]", "a b c d e f"]})
    first = version_of(project, TEXT_SPEC)
    _run(first)
    late = responses_for(project, {"q": ["late [1] one"]})[0]
    second = reward_function_version_create(
        function=first.function,
        spec=_reweighted(TEXT_SPEC, {"cites": 1.0, "words": 1.0}),
        created_by=None,
    )

    run, compute = _run(second)

    # Batches of 2: the first batch is all copied, the second computes only the new one.
    assert compute.asked == [(1, ("cites",)), (1, ("words",))]
    assert (run.status, run.responses_scored) == ("succeeded", 3)
    assert Score.objects.get(version=second, response=late).components == {
        "cites": 1.0, "words": 0.0,
    }  # fmt: skip


BLEU = {"name": "bleu", "type": "text_metric", "metric": "bleu"}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(TEXT_SPEC, id="no transforms"),
        pytest.param(
            {
                **TEXT_SPEC,
                "components": [*TEXT_SPEC["components"], BLEU],
                "combine": {
                    "op": "weighted_sum",
                    "weights": {"cites": 1.0, "words": 0.5, "bleu": 2.0},
                    "missing": "missing_total",
                },
                "transforms": {
                    "words": ["zscore", {"clip": {"low": -1.0, "high": 1.0}}],
                    "bleu": ["minmax"],
                },
            },
            id="fitted, missing values",
        ),
        pytest.param(
            {**TEXT_SPEC, "transforms": {"words": ["zscore_per_prompt"], "cites": ["zscore"]}},
            id="per prompt",
        ),
    ],
)
def test_copied_scores_are_the_scores_the_batch_path_gives(project, spec):  # type: ignore[no-untyped-def]
    # Two prompts with a reference answer (BLEU has a value), one without (missing),
    # one a chat transcript (its per-prompt key comes from the joined turns).
    responses_for(project, {"p1": ["see [1] here", "a b c d e f"], "p2": ["x [1]", "a"]},
                  reference="see [1] here now")  # fmt: skip
    responses_for(project, {"p3": ["one two three", "a b c d e f g h", "a b"]})
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes?"}]
    chat = PromptFactory(project=project, input=turns)
    for text in ("a b c [1]", "a b c d e f g h i j"):
        ResponseFactory(prompt=chat, text=text)
    computed = version_of(project, spec, name="computed")
    # The same spec in another function: every raw value is there to copy.
    copied = version_of(project, spec, name="copied")

    batch, _ = _run(computed)
    run, compute = _run(copied)
    computed.refresh_from_db()
    copied.refresh_from_db()

    def rows(version: RewardFunctionVersion) -> dict[int, tuple[float | None, dict[str, Any]]]:
        return {
            s.response_id: (s.total, s.components) for s in Score.objects.filter(version=version)
        }

    assert (batch.status, run.status, compute.asked) == ("succeeded", "succeeded", [])
    assert (run.responses_total, run.responses_scored) == (batch.responses_total, 9)
    assert run.fitted_here == batch.fitted_here
    assert copied.fitted == computed.fitted
    assert rows(copied) == rows(computed)  # the same floats, not approximately
    assert len({total for total, _ in rows(copied).values()}) > 2


def test_copied_components_are_only_the_versions_own(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["see [1] here", "a b c d e f"]}, reference="see [1] here")
    cites, words = TEXT_SPEC["components"]
    weights = {"cites": 1, "words": 1, "bleu": 1}
    wider = version_of(
        project,
        {"components": [cites, words, BLEU], "combine": {"op": "weighted_sum", "weights": weights}},
    )
    _run(wider)
    # From one version that has a component more: copied key by key, without `bleu`.
    narrower = reward_function_version_create(
        function=wider.function,
        spec=_reweighted(TEXT_SPEC, {"cites": 3.0, "words": 1.0}),
        created_by=None,
    )
    narrowed, compute = _run(narrower)
    # From two versions: `cites` (with another match value) only one has.
    cites_twice = {**cites, "match": 2.0}
    _run(version_of(project, {"components": [cites_twice], "combine": {"op": "min"}}, name="c"))
    both = version_of(
        project, {"components": [cites_twice, words], "combine": {"op": "min"}}, name="both"
    )
    both_run, both_compute = _run(both)

    assert (narrowed.status, both_run.status, compute.asked, both_compute.asked) == (
        "succeeded", "succeeded", [], [],
    )  # fmt: skip
    assert [(s.total, s.components) for s in Score.objects.filter(version=narrower)] == [
        (3.0, {"cites": 1.0, "words": 0.0}),
        (-2.0, {"cites": 0.0, "words": -2.0}),
    ]
    assert [(s.total, s.components) for s in Score.objects.filter(version=both)] == [
        (0.0, {"cites": 2.0, "words": 0.0}),
        (-2.0, {"cites": 0.0, "words": -2.0}),
    ]


def test_scoring_a_version_again_rewrites_its_copied_scores(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["see [1]", "a b c d e f", "x"]})
    first = version_of(project, TEXT_SPEC)
    _run(first)
    second = reward_function_version_create(
        function=first.function,
        spec=_reweighted(TEXT_SPEC, {"cites": 4.0, "words": 1.0}),
        created_by=None,
    )
    _run(second)
    expected = list(Score.objects.filter(version=second).values_list("response_id", "total"))
    Score.objects.filter(version=second).update(total=99.0)
    Score.objects.filter(version=second).first().delete()  # type: ignore[union-attr]

    run, compute = _run(second)

    assert (run.status, run.responses_scored, compute.asked) == ("succeeded", 3, [])
    assert list(Score.objects.filter(version=second).values_list("response_id", "total")) == (
        expected
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_meeting_the_rows_of_a_concurrent_run_of_its_version_upserts(project):  # type: ignore[no-untyped-def]
    from django.db import connection, connections, transaction

    responses = responses_for(project, {"p": ["see [1]", "a b c d e f"]})
    first = version_of(project, TEXT_SPEC)
    _run(first)
    second = reward_function_version_create(
        function=first.function,
        spec=_reweighted(TEXT_SPEC, {"cites": 4.0, "words": 1.0}),
        created_by=None,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (ours,) = cursor.fetchone()
    written = threading.Event()
    errors: list[BaseException] = []

    def other_run() -> None:
        # Another run of the same version writes a row and commits only once our
        # INSERT waits on it: ours then meets a duplicate key.
        try:
            with transaction.atomic():
                Score.objects.create(
                    version=second, response=responses[0], total=99.0, components={}
                )
                written.set()
                with connection.cursor() as cursor:
                    for _ in range(400):
                        cursor.execute(
                            "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [ours]
                        )
                        if cursor.fetchone()[0]:
                            break
                        time.sleep(0.05)
                    else:
                        raise AssertionError("our run never waited on the other run's row")
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
            written.set()
        finally:
            connections.close_all()

    run = score_run_create(version=second, created_by=None, enqueue=False)
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    thread = threading.Thread(target=other_run)
    thread.start()
    written.wait()
    done = score_run_execute(run=claimed, compute=CountingScorer(second))
    thread.join()

    assert errors == []
    assert (done.status, done.responses_scored) == ("succeeded", 2)
    assert dict(Score.objects.filter(version=second).values_list("response_id", "total")) == {
        responses[0].pk: 4.0,
        responses[1].pk: -2.0,
    }


def test_a_run_is_claimed_once(project):  # type: ignore[no-untyped-def]
    responses_for(project, {"p": ["x"]})
    run = score_run_create(version=version_of(project, TEXT_SPEC), created_by=None, enqueue=False)

    assert score_run_claim(run_id=run.pk) is not None
    assert score_run_claim(run_id=run.pk) is None
    assert score_run_claim(run_id=run.pk + 1000) is None


def test_a_score_run_needs_responses_and_is_enqueued_on_commit(
    project, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)

    with pytest.raises(ApplicationError, match="no responses to score"):
        score_run_create(version=version, created_by=None)
    responses_for(project, {"p": ["x"]})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = score_run_create(version=version, created_by=None)

    assert (run.status, len(callbacks)) == ("queued", 1)


def test_a_run_fails_with_a_message_when_the_promoted_model_is_missing(project):  # type: ignore[no-untyped-def]
    from apps.rewards.services import scoring_resources

    version = version_of(
        project,
        {"components": [{"name": "rm", "type": "reward_model"}], "combine": {"op": "min"}},
    )

    with pytest.raises(ApplicationError, match="^rm: the project has no promoted reward model"):
        scoring_resources(version=version)


def test_a_chain_against_the_reference_answer_is_fitted_at_creation_and_scores(project):  # type: ignore[no-untyped-def]
    # log σ(r − r_ref) with r_ref the reference answer's own score needs no statistics.
    spec = {
        **TEXT_SPEC,
        "transforms": {"words": [{"log_sigmoid": {"reference": "reference_answer"}}]},
    }
    responses_for(project, {"p": ["a b c [1]", "a b c d e f g"]}, reference="a b c")

    version = version_of(project, spec)
    run, _ = _run(version)

    assert version.fitted == {
        "chains": {"words": {"steps": [{"kind": "log_sigmoid", "reference": None}]}},
        "fitted_on": 0,
    }
    assert run.status == "succeeded"
    words = {s.response.text: s.total - 2.0 * s.components["cites"] for s in Score.objects.all()}
    # Length scores 0 within the tolerance (the 3-word reference, 4 words) and loses one per
    # word beyond it (7 words: −3), so the rewards are log σ(0) and log σ(−3).
    assert words == pytest.approx(
        {"a b c [1]": -math.log(2), "a b c d e f g": -math.log(1 + math.e**3)}
    )
