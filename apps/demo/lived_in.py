"""The lived-in demo project: what a project looks like a few weeks in.

Simulated annotators label through the workbench's own services (`assignment_next`,
`label_submit`), each with a way of judging that the quality pages can find: a careful
pair close to each other, one who prefers longer answers, one who prefers shorter ones
and is strict on concision, a fast one who often picks the left answer. What they see is
the demo data's own quality mark on each response (`metadata.quality`: good, ok, poor).
Then a reviewer decides, a reward model is trained and promoted, a gated reward function
is scored and inspected, and a dataset is exported: each job runs here, in this process,
through its Celery task's own body, so what the pages show is a finished job's real state.

Every step is skipped when its result is there already, so loading twice adds nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.annotation.reports import agreement_refresh
from apps.annotation.review import review_decide, review_queue
from apps.annotation.schema import Choice, Judgment, Span
from apps.annotation.services import (
    assignment_next,
    assignment_skip,
    comparison_flag,
    comparison_update,
    label_submit,
)
from apps.core.errors import ApplicationError
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create
from apps.prompts.models import Response
from apps.reward_models.models import RewardModel, TrainingRun
from apps.reward_models.services import reward_model_promote_checked, training_run_create
from apps.rewards.inspection.services import inspection_create
from apps.rewards.models import Inspection, RewardFunction, RewardFunctionVersion, ScoreRun
from apps.rewards.services import reward_function_create, reward_function_version_create
from apps.rewards.services.runs import score_run_create
from workers.training.settings import TrainingSettings

# Gold items are served at this rate; criteria are rated on every label.
SETTINGS = {"rate_criteria": True, "gold_rate": 0.1}
QUALITY_RANK = {"poor": 0, "ok": 1, "good": 2}
GOLD_ITEMS = 8
REWARD_FUNCTION = "Helpful, concise, no filler"
FILLER_PATTERN = (
    r"(?i)\b(as an ai|great question|i hope this helps|happy coding|it is important to note)\b"
)
# The gate: an answer with filler (the regex gives -1) scores below zero whatever else.
GATED = "if(filler < 0, min(rm, 0) - 1, rm + 0.5 * length)"
# The strength scale's steps: 0 negligibly … 3 much better.
MAX_STRENGTH = 3


@dataclass(frozen=True)
class Persona:
    """How one simulated annotator judges."""

    username: str
    labels: int  # how many judgments they make
    skill: float  # chance of preferring the better answer when the quality marks differ
    length_bias: float = 0.0  # chance of preferring the longer answer, whatever its quality
    brevity_bias: float = 0.0  # … the shorter one
    left_bias: float = 0.0  # chance of picking whatever is shown on the left
    seconds: float = 40.0  # typical time per judgment
    writes_rationale: float = 0.2
    marks_spans: bool = False


PERSONAS = (
    Persona("maria", labels=65, skill=0.93, seconds=55, writes_rationale=0.6, marks_spans=True),
    Persona("tom", labels=60, skill=0.9, seconds=48, writes_rationale=0.3, marks_spans=True),
    Persona("lena", labels=50, skill=0.85, length_bias=0.75, seconds=42),
    Persona("sam", labels=45, skill=0.85, brevity_bias=0.5, seconds=35),
    Persona("raj", labels=40, skill=0.6, left_bias=0.35, seconds=6, writes_rationale=0.0),
)
# The demo's own annotator account has a few judgments behind it and work still queued.
YOU = Persona("annotator", labels=15, skill=0.88, seconds=38)


@dataclass(frozen=True)
class LivedIn:
    project: Project
    labels: int
    reward_model: RewardModel
    version: RewardFunctionVersion
    score_run: ScoreRun
    inspection: Inspection
    export: Export


@dataclass(frozen=True)
class _Shown:
    """What a simulated annotator reads of one response."""

    rank: int
    length: int
    text: str
    safety: bool


def lived_in_fill(*, project: Project, users: dict[str, User]) -> LivedIn:
    """Label, review, train, score, inspect and export in the project; each step once."""
    designer = users["designer"]
    if not Label.objects.filter(comparison__project=project).exists():
        with transaction.atomic():  # all the judgments and reviews, or none
            _labels_make(project, users)
            _reviews_make(project, users["admin"])
        agreement_refresh(project_id=project.pk)
    model = _model_trained(project, designer)
    first, gated = _reward_function(project, designer, model)
    _score_run(first, designer)
    run = _score_run(gated, designer)
    inspection = _inspection(gated, designer)
    export = _export(project, designer)
    labels = Label.objects.filter(comparison__project=project).count()
    return LivedIn(project, labels, model, gated, run, inspection, export)


# --- labels -------------------------------------------------------------------------------


def _shown(project: Project) -> dict[int, _Shown]:
    rows = Response.objects.filter(prompt__project=project).values_list(
        "pk", "text", "metadata", "prompt__metadata"
    )
    return {
        pk: _Shown(
            rank=QUALITY_RANK.get((metadata or {}).get("quality"), 1),
            length=len(text),
            text=text,
            safety=(prompt_metadata or {}).get("kind") == "safety",
        )
        for pk, text, metadata, prompt_metadata in rows
    }


def _labels_make(project: Project, users: dict[str, User]) -> None:
    """Mark gold items, then let every persona work through the queue in turns."""
    shown = _shown(project)
    _gold_mark(project, shown)
    personas = [*PERSONAS, YOU]
    done = dict.fromkeys((p.username for p in personas), 0)
    working = list(personas)
    while working:
        for persona in list(working):
            user = users[persona.username]
            assignment = (
                assignment_next(project=project, user=user)
                if done[persona.username] < persona.labels
                else None
            )
            if assignment is None:
                working.remove(persona)
                continue
            count = done[persona.username]
            rng = random.Random(f"{persona.username}:{assignment.comparison_id}")
            if persona.username == "sam" and count == 7:
                assignment_skip(
                    assignment=assignment,
                    user=user,
                    reason="Not sure of the facts here; leaving it to someone who is.",
                )
                done[persona.username] += 1
                continue
            judgment = _judge(persona, assignment.comparison, assignment.display_order, shown,
                              rng, key=f"demo-{persona.username}-{count}")  # fmt: skip
            label_submit(assignment=assignment, user=user, judgment=judgment)
            if persona.username == "maria" and count in (12, 40):
                comparison_flag(
                    comparison=assignment.comparison,
                    user=user,
                    reason="Both answers look off to me; could someone check the facts?",
                )
            done[persona.username] += 1


def _gold_mark(project: Project, shown: dict[int, _Shown]) -> None:
    """Pairs of a good and a poor answer become gold items, the good one the known answer."""
    pairs = Comparison.objects.filter(project=project, kind=Comparison.Kind.PAIR).order_by("pk")
    clear = [
        c for c in pairs
        if abs(shown[c.response_a_id].rank - shown[c.response_b_id].rank) == 2  # type: ignore[index]
    ]  # fmt: skip
    for comparison in clear[::3][:GOLD_ITEMS]:
        a, b = shown[comparison.response_a_id], shown[comparison.response_b_id]  # type: ignore[index]
        comparison_update(
            comparison=comparison,
            set_gold=True,
            gold_choice=Choice.A if a.rank > b.rank else Choice.B,
        )


def _judge(persona: Persona, comparison: Comparison, order: list[int],
           shown: dict[int, _Shown], rng: random.Random, *, key: str) -> Judgment:  # fmt: skip
    """The persona's judgment of a pair, with criterion ratings, maybe spans and a reason."""
    a_id, b_id = comparison.response_a_id, comparison.response_b_id
    assert a_id is not None
    assert b_id is not None
    a, b = shown[a_id], shown[b_id]
    left = Choice.A if int(order[0]) == a_id else Choice.B
    longer = Choice.A if a.length >= b.length else Choice.B
    shorter = Choice.B if longer == Choice.A else Choice.A
    better = Choice.A if a.rank > b.rank else Choice.B
    worse = Choice.B if better == Choice.A else Choice.A
    gap = abs(a.rank - b.rank)
    if rng.random() < persona.left_bias:
        choice = left
    elif rng.random() < persona.length_bias:
        choice = longer
    elif rng.random() < persona.brevity_bias:
        choice = shorter
    elif gap == 0:
        choice = rng.choice(
            [Choice.TIE, Choice.A, Choice.B]
            + ([Choice.BOTH_BAD, Choice.BOTH_BAD] if a.rank == 0 else [])
        )
    else:
        choice = better if rng.random() < persona.skill else worse
    strength = None
    if choice in (Choice.A, Choice.B):
        agrees = gap if choice == better else 0
        strength = min(MAX_STRENGTH, max(0, agrees + rng.choice([-1, 0, 0, 1])))
    ratings = {pk: _ratings(persona, shown[pk], rng) for pk in (a_id, b_id)}
    spans = []
    if persona.marks_spans:
        spans = [_span(pk, shown[pk]) for pk in (a_id, b_id) if shown[pk].rank == 0]
    rationale = ""
    if rng.random() < persona.writes_rationale:
        rationale = _rationale(choice, better, gap, longer)
    seconds = persona.seconds * rng.uniform(0.6, 1.6) * (1 + (a.length + b.length) / 4000)
    return Judgment(
        idempotency_key=key, choice=choice, strength=strength, ratings=ratings,
        spans=[s for s in spans if s is not None], rationale=rationale,
        seconds_spent=round(seconds, 1),
    )  # fmt: skip


def _ratings(persona: Persona, response: _Shown, rng: random.Random) -> dict[str, int]:
    """Scores from 1 to 5 per criterion: the quality mark, the length, the persona's taste."""
    base = 2 + response.rank  # poor 2, ok 3, good 4

    def rate(value: float) -> int:
        return max(1, min(5, round(value + rng.choice([-1, 0, 0, 0, 0, 0, 1]))))

    concise = 4.6 if response.length < 600 else 3.6 if response.length < 1200 else 2.4
    if persona.brevity_bias and response.length >= 600:
        concise -= 0.8
    helpful = base + (0.8 if persona.length_bias and response.length > 900 else 0.0)
    harmless = 4.8
    if response.safety:
        harmless = (1.8, 3.5, 4.8)[response.rank]  # unsafe, over-cautious, right
    return {
        "helpfulness": rate(helpful),
        "correctness": rate(base + 0.3),
        "harmlessness": rate(harmless),
        "concision": rate(concise),
    }


def _span(response_id: int, response: _Shown) -> Span | None:
    """The first sentence of a poor answer, marked as where it goes wrong."""
    text = response.text
    start = len(text) - len(text.lstrip())
    ends = [i for i in (text.find(". ", start), text.find("\n", start)) if i > start]
    end = min([*ends, start + 160, len(text)])
    if end <= start:
        return None
    category = "verbose" if response.length > 1400 else "factual_error"
    return Span(response=response_id, start=start, end=end, category=category,
                note="This is where it goes wrong.")  # fmt: skip


def _rationale(choice: Choice, better: Choice, gap: int, longer: Choice) -> str:
    if choice == Choice.TIE:
        return "Both say the same thing; neither is clearly better."
    if choice == Choice.BOTH_BAD:
        return "Neither answers the question correctly."
    side = "A" if choice == Choice.A else "B"
    if choice != better and gap:
        return f"{side} is more thorough." if choice == longer else f"{side} gets to the point."
    if choice == longer:
        return f"{side} is correct and explains why; the other skips the important part."
    return f"{side} is correct and concise; the other pads the answer or gets a detail wrong."


def _reviews_make(project: Project, reviewer: User) -> None:
    """A reviewer settles the first disagreements of the review queue (the rest wait)."""
    notes = [
        "Checked the facts: the majority is right; the other answer has an error.",
        "Close call; the shorter answer says everything that matters.",
    ]
    for comparison, note in zip(review_queue(project=project)[: len(notes)], notes, strict=False):
        votes = list(
            Label.objects.filter(comparison=comparison, superseded_by__isnull=True)
            .exclude(choice="")
            .values_list("choice", flat=True)
        )
        choice = max(set(votes), key=votes.count) if votes else Choice.TIE
        strength = 1 if choice in (Choice.A, Choice.B) else None
        review_decide(
            comparison=comparison, reviewer=reviewer, choice=choice, strength=strength, note=note
        )


# --- jobs ---------------------------------------------------------------------------------


def _model_trained(project: Project, user: User) -> RewardModel:
    """The project's promoted model: trained with the default settings (the small head)."""
    promoted = RewardModel.objects.filter(project=project, is_promoted=True).first()
    if promoted is not None:
        return promoted
    run = TrainingRun.objects.filter(project=project, status=TrainingRun.Status.SUCCEEDED).first()
    if run is None:
        from workers.tasks.reward_models import train_reward_model

        run = training_run_create(
            project=project, user=user, settings=TrainingSettings(), enqueue=False
        )
        train_reward_model(run_id=run.pk)
        run.refresh_from_db()
        _succeeded(run, TrainingRun.Status.SUCCEEDED, "The reward model's training")
    assert run.reward_model is not None
    return reward_model_promote_checked(model=run.reward_model, confirm=False)


def _spec(model: RewardModel, *, gated: bool) -> dict[str, Any]:
    transforms: dict[str, list[Any]] = {
        "rm": ["zscore_per_prompt", {"clip": {"low": -3, "high": 3}}]
    }
    combine: dict[str, Any] = {
        "op": "weighted_sum",
        "weights": {"rm": 1.0, "length": 0.5, "filler": 0.5},
    }
    if gated:
        transforms["length"] = [{"clip": {"low": -2}}]
        combine = {
            "op": "formula",
            "expression": GATED,
        }
    return {
        "components": [
            {"name": "rm", "type": "reward_model", "model": model.pk},
            {"name": "length", "type": "length_penalty", "unit": "words", "target": 150,
             "tolerance": 150},
            {"name": "filler", "type": "regex", "pattern": FILLER_PATTERN, "match": -1.0,
             "no_match": 0.0},
        ],
        "transforms": transforms,
        "combine": combine,
    }  # fmt: skip


def _reward_function(
    project: Project, user: User, model: RewardModel
) -> tuple[RewardFunctionVersion, RewardFunctionVersion]:
    """The reward function's two versions: a weighted sum, then the same with a gate."""
    function = RewardFunction.objects.filter(project=project, name=REWARD_FUNCTION).first()
    if function is None:
        first = reward_function_create(
            project=project, name=REWARD_FUNCTION, spec=_spec(model, gated=False),
            created_by=user, message="First try: the reward model, a length penalty, filler.",
            description="The promoted reward model, kept to a sensible length, and no filler.",
        )  # fmt: skip
        function = first.function
    versions = list(function.versions.order_by("number")[:2])
    if len(versions) == 1:
        versions.append(
            reward_function_version_create(
                function=function,
                spec=_spec(model, gated=True),
                created_by=user,
                message="Gate: an answer with filler phrases never scores above zero.",
            )  # fmt: skip
        )
    return versions[0], versions[1]


def _score_run(version: RewardFunctionVersion, user: User) -> ScoreRun:
    done = ScoreRun.objects.filter(version=version, status=ScoreRun.Status.SUCCEEDED).first()
    if done is not None:
        return done
    from workers.tasks.rewards import score_responses

    run = score_run_create(version=version, created_by=user, enqueue=False)
    score_responses(run_id=run.pk)
    run.refresh_from_db()
    return _succeeded(run, ScoreRun.Status.SUCCEEDED, f"Scoring with v{version.number}")


def _inspection(version: RewardFunctionVersion, user: User) -> Inspection:
    done = Inspection.objects.filter(version=version, status=Inspection.Status.SUCCEEDED).first()
    if done is not None:
        return done
    from workers.tasks.inspection import inspect_reward

    inspection = inspection_create(version=version, created_by=user, enqueue=False)
    inspect_reward(inspection_id=inspection.pk)
    inspection.refresh_from_db()
    return _succeeded(inspection, Inspection.Status.SUCCEEDED, "The inspection")


def _export(project: Project, user: User) -> Export:
    done = Export.objects.filter(project=project, status=Export.Status.SUCCEEDED).first()
    if done is not None:
        return done
    from workers.tasks.exports import run_export

    export = export_create(
        project=project, user=user, export_format=Export.Format.TRL_PREFERENCE,
        file_format=Export.FileFormat.JSONL,
        options=ExportOptions(test_share=0.2, margin=True, soft_label=True), enqueue=False,
    )  # fmt: skip
    run_export(export_id=export.pk)
    export.refresh_from_db()
    return _succeeded(export, Export.Status.SUCCEEDED, "The export")


def _succeeded(job: Any, status: str, what: str) -> Any:
    """The finished job, or an error saying why it did not succeed."""
    if job.status != status:
        raise ApplicationError(f"{what} ended {job.status}: {job.error or 'no error recorded'}")
    return job
