"""A small project whose inspection numbers are worked out by hand (see EXPECTED).

Reward: 2 × cites ("[1]") + 1 × polite ("please"). Rewards per response:
r1 2, r2 1, r3 0, r4 2, r5 1, r6 2, r7 0.

Human choices (overall): c1 r1>r2 (ann, bob), c2 r1>r3 (ann), c3 r3>r2 (ann: the reward
gets it wrong), c4 r4>r5 (ann) and r5>r4 (bob), c5 r6>r7 (bob). Correct: 5 of 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.annotation.services import comparison_create
from apps.prompts.models import Response
from apps.rewards.models import Inspection, RewardFunctionVersion
from tests.factories import MembershipFactory, PromptFactory, ResponseFactory, UserFactory
from tests.rewards.factories import version_of

SPEC: dict[str, Any] = {
    "components": [
        {"name": "cites", "type": "contains", "substrings": ["[1]"]},
        {"name": "polite", "type": "regex", "pattern": "(?i)please"},
    ],
    "combine": {"op": "weighted_sum", "weights": {"cites": 2.0, "polite": 1.0}},
}
# A second version that cares only about politeness: it flips c1 (r1 2 → 0, r2 1 → 1).
POLITE_SPEC: dict[str, Any] = {
    "components": [{"name": "polite", "type": "regex", "pattern": "(?i)please"}],
    "combine": {"op": "weighted_sum", "weights": {"polite": 1.0}},
}

TEXTS = {
    ("Capital of France?", "capital"): ["Paris [1].", "Paris, please.", "Lyon."],
    ("What is France's capital city?", "capital"): ["It is Paris [1].", "Marseille, please!"],
    ("Largest planet?", ""): ["Jupiter [1].", "Saturn."],
}

EXPECTED = {
    "overall": (5, 7),  # correct, n
    "ceiling": (1, 2),  # agreeing pairs of people: c1 agree, c4 disagree
    "annotators": {"ann": (3, 4), "bob": (2, 3)},
    "groups": {"capital": (4, 6)},
    "criteria": {"clarity": (1, 1)},
    "ablation": {"cites": 1 / 7, "polite": 5 / 7},
    "longer_lost": (3, 4),
    "longer_won": (2, 3),
}


@dataclass
class World:
    project: Project
    designer: User
    version: RewardFunctionVersion
    responses: list[Response]
    comparisons: dict[str, Comparison]


def _label(comparison: Comparison, who: User, winner: Response, **extra: Any) -> Label:
    choice = "a" if winner.pk == comparison.response_a_id else "b"
    return Label.objects.create(comparison=comparison, annotator=who, choice=choice, **extra)


def build(project: Project, designer: User) -> World:
    ann = UserFactory(username="ann")
    bob = UserFactory(username="bob")
    for user in (ann, bob):
        MembershipFactory(project=project, user=user, role="annotator")
    r: list[Response] = []
    for (prompt_text, group), texts in TEXTS.items():
        prompt = PromptFactory(project=project, input=prompt_text, group=group)
        r += [ResponseFactory(prompt=prompt, text=text) for text in texts]
    r1, r2, r3, r4, r5, r6, r7 = r

    def pair(a: Response, b: Response) -> Comparison:
        return comparison_create(project=project, response_ids=[a.pk, b.pk])

    c = {"c1": pair(r1, r2), "c2": pair(r1, r3), "c3": pair(r2, r3), "c4": pair(r4, r5),
         "c5": pair(r6, r7)}  # fmt: skip
    ratings = {str(r1.pk): {"clarity": 4}, str(r2.pk): {"clarity": 2}}
    _label(c["c1"], ann, r1, ratings=ratings)
    _label(c["c1"], bob, r1)
    _label(c["c2"], ann, r1)
    _label(c["c3"], ann, r3)
    _label(c["c4"], ann, r4)
    _label(c["c4"], bob, r5)
    _label(c["c5"], bob, r6)
    Label.objects.create(comparison=c["c5"], annotator=ann, choice="tie")  # not decisive
    version = version_of(project, SPEC, name="cites and manners")
    return World(project, designer, version, r, c)


def inspect_now(
    version: RewardFunctionVersion, user: User | None, free_signs: tuple[str, ...] = ()
) -> Inspection:
    """Create and run an inspection in this process, with the real scoring engine."""
    from apps.rewards.inspection.services import (
        inspection_claim,
        inspection_create,
        inspection_execute,
    )
    from workers.ml.scoring import Scorer

    created = inspection_create(
        version=version, created_by=user, free_signs=free_signs, enqueue=False
    )
    claimed = inspection_claim(inspection_id=created.pk)
    assert claimed is not None
    compute = Scorer(claimed.version.parsed_spec).component_values
    return inspection_execute(inspection=claimed, compute=compute)


# An anti-flattery penalty the people's choices disagree with: the fit would flip it.
FLATTERY_SPEC: dict[str, Any] = {
    "components": [
        {"name": "flattery", "type": "regex", "pattern": "(?i)great question", "match": -1.0},
        {"name": "cites", "type": "contains", "substrings": ["[1]"]},
    ],
    "combine": {"op": "weighted_sum", "weights": {"flattery": 1.0, "cites": 1.0}},
}
FLATTERY_TEXTS = {
    "Capital of France?": ["Great question! Paris.", "Paris [1].", "Lyon."],
    "Largest planet?": ["Great question! Jupiter.", "Jupiter [1].", "Saturn."],
    "Boiling point of water at sea level?": ["Great question! 100 °C.", "100 °C [1].", "50 °C."],
}


def build_flattery(project: Project, designer: User) -> World:
    """Nine responses (three flatter, three cite); seven choices by one annotator: flattery
    beat a citation twice and a plain answer twice, a citation beat a plain answer three
    times. Unconstrained, the fit gives the anti-flattery penalty a negative weight (a
    bonus for flattery), which prefixing "Great question!" games: it raises the reward of
    the six responses that do not flatter yet."""
    ann = UserFactory(username="ann")
    MembershipFactory(project=project, user=ann, role="annotator")
    r: list[Response] = []
    for prompt_text, texts in FLATTERY_TEXTS.items():
        prompt = PromptFactory(project=project, input=prompt_text)
        r += [ResponseFactory(prompt=prompt, text=text) for text in texts]
    choices = {"c1": (r[0], r[1]), "c2": (r[3], r[4]), "c3": (r[0], r[2]), "c4": (r[6], r[8]),
               "c5": (r[1], r[2]), "c6": (r[4], r[5]), "c7": (r[7], r[8])}  # fmt: skip
    c = {}
    for key, (winner, loser) in choices.items():
        c[key] = comparison_create(project=project, response_ids=[winner.pk, loser.pk])
        _label(c[key], ann, winner)
    version = version_of(project, FLATTERY_SPEC, name="no flattery")
    return World(project, designer, version, r, c)
