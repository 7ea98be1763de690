"""Which answer an exported item carries: the project's consensus, applied item by item.

An *item* is a pair of responses: a pairwise comparison is one item; a ranking
comparison gives one item per pair of its responses (`ranking_to_pairs`). Votes are
stated for the item's lower response id ("a") against its higher one ("b").

The rule itself is issue 5's, in `apps.annotation.review`: a reviewer's decision where
there is one, else the project's consensus setting (majority vote or Dawid–Skene). This
module only feeds it the export's labels (after its filters) and measures agreement.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from apps.accounts.models import Project
from apps.accounts.settings_schema import ConsensusRule
from apps.annotation import quality
from apps.annotation.review import (
    consensus_of_decision,
    consensus_of_judgments,
    consensus_of_votes,
    review_decisions_latest,
)

ItemKey = tuple[int, int, int]  # (comparison id, low response id, high response id)
_KNOWN_BALLOTS = 100_000  # sets of ballots kept with their consensus (memory stays flat)
Ballot = tuple[str, int | None]  # (choice, strength)

_RULES = {
    ConsensusRule.MAJORITY: (
        "majority vote (plurality) of the item's labels; an item whose top answer is shared "
        "by two answers has no consensus and is left out"
    ),
    ConsensusRule.DAWID_SKENE: (
        "Dawid–Skene: the most probable answer given every exported label, each annotator "
        "weighted by the reliability the model estimates for them (fitted once over the "
        "export's labels, ties and both-bad included as classes)"
    ),
}


def consensus_rule_text(rule: ConsensusRule) -> str:
    """The consensus rule of an export, in words, for the data card."""
    return (
        f"Consensus (the project's setting `{rule.value}`): a reviewer's decision where one "
        f"exists (the latest), else {_RULES[rule]}. Only current labels vote (a superseded "
        "label is history); an imported label votes like one annotator. A k-way ranking votes "
        "on each pair of its responses (the better-ranked one wins); reviewers decide pairs "
        "only. Agreement of an item is the share of its labels that voted for the consensus; "
        "the minimum-agreement filter does not apply to reviewed items, whose disagreement a "
        "reviewer has settled."
    )


class ItemConsensus(NamedTuple):
    """The answer of an item (None without one) and what the data card and columns need.

    margin: mean of (strength index + 1) / scale size over the labels that voted for the
    answer and gave a strength (a reviewer's own strength when they gave one); 0.0 when
    none did. p_a: the consensus probability that response "a" is preferred (soft label).
    """

    choice: str | None
    agreement: float
    votes: int
    margin: float
    p_a: float
    reviewed: bool


class ConsensusResolver:
    """Resolves each exported item with the project's consensus.

    Built once per export: it loads the reviewers' decisions (few rows) and, under
    Dawid–Skene, fits the model over every judgment of the export up front, since the
    reliability of an annotator depends on all their labels. Majority needs nothing
    beyond the item's own votes.
    """

    def __init__(
        self,
        *,
        project: Project,
        scale_size: int,
        judgments: Iterable[tuple[ItemKey, Hashable, str]] | None = None,
    ) -> None:
        self.rule = project.settings.consensus
        self.scale_size = scale_size
        self.decisions = {
            comparison_id: (decision.choice, decision.strength)
            for comparison_id, decision in review_decisions_latest(project=project).items()
        }
        self.fitted: dict[Hashable, object] = {}
        if self.rule == ConsensusRule.DAWID_SKENE and judgments is not None:
            rows = [quality.Judgment(item, voter, choice) for item, voter, choice in judgments]
            self.fitted = consensus_of_judgments(rows, rule=self.rule)  # type: ignore[assignment]
        self.reviewed_items = 0
        # Under the majority rule an item's consensus depends on its ballots alone, and
        # most items share their ballots with many others: each set is resolved once.
        self._by_ballots: dict[tuple[Ballot, ...], ItemConsensus] | None = (
            {} if self.rule == ConsensusRule.MAJORITY else None
        )

    @property
    def needs_all_judgments(self) -> bool:
        return self.rule == ConsensusRule.DAWID_SKENE

    def resolve(self, key: ItemKey, ballots: Sequence[Ballot], *, is_pair: bool) -> ItemConsensus:
        """The item's consensus from its current ballots (one per voter, at least one)."""
        known = self._by_ballots
        if known is None or (is_pair and key[0] in self.decisions):
            return self._resolve(key, ballots, is_pair=is_pair)
        ballots = tuple(ballots)
        if (result := known.get(ballots)) is None:
            result = self._resolve(key, ballots, is_pair=is_pair)
            if len(known) < _KNOWN_BALLOTS:
                known[ballots] = result
        return result

    def _resolve(self, key: ItemKey, ballots: Sequence[Ballot], *, is_pair: bool) -> ItemConsensus:
        choices = [choice for choice, _ in ballots]
        decision = self.decisions.get(key[0]) if is_pair else None
        if decision is not None:
            self.reviewed_items += 1
            result = consensus_of_decision(choice=decision[0], labels=len(ballots))
            if decision[1] is not None and decision[0] in ("a", "b"):
                margin: float | None = (decision[1] + 1) / self.scale_size
            else:
                margin = None
        elif self.rule == ConsensusRule.DAWID_SKENE:
            result = self.fitted[key]  # type: ignore[assignment]
            margin = None
        else:
            result = consensus_of_votes(choices)
            margin = None
        choice = result.choice
        n = len(ballots)
        if choice is None:
            counts: dict[str, int] = {}
            for value in choices:
                counts[value] = counts.get(value, 0) + 1
            agreeing = max(counts.values())
        else:
            agreeing = choices.count(choice)
        if margin is None:
            strengths = [
                (strength + 1) / self.scale_size
                for value, strength in ballots
                if value == choice and strength is not None
            ]
            margin = sum(strengths) / len(strengths) if strengths else 0.0
        return ItemConsensus(
            choice=choice,
            agreement=agreeing / n,
            votes=n,
            margin=margin,
            p_a=float(result.p_a) if result.p_a is not None else 0.5,
            reviewed=decision is not None,
        )


@dataclass
class AgreementTally:
    """Raw agreement over the exported items, summed item by item so memory stays flat.

    Per item with m >= 2 votes: m(m-1)/2 pairs of votes, of which those with equal answers
    agree (`quality.raw_agreement`, counted directly).
    """

    n_items: int = 0
    n_pairs: int = 0
    n_agreeing: int = 0
    # Agreeing pairs of each list of answers met (most items share theirs with many).
    _agreeing: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False, compare=False)

    def add(self, choices: Sequence[str]) -> None:
        m = len(choices)
        if m < 2:
            return
        answers = tuple(choices)
        agreeing = self._agreeing.get(answers)
        if agreeing is None:
            counts: dict[str, int] = {}
            for value in choices:
                counts[value] = counts.get(value, 0) + 1
            agreeing = sum(c * (c - 1) // 2 for c in counts.values())
            if len(self._agreeing) < _KNOWN_BALLOTS:
                self._agreeing[answers] = agreeing
        self.n_items += 1
        self.n_pairs += m * (m - 1) // 2
        self.n_agreeing += agreeing

    @property
    def value(self) -> float | None:
        return self.n_agreeing / self.n_pairs if self.n_pairs else None


def ranking_ballots(ranking: Sequence[int]) -> list[tuple[tuple[int, int], str]]:
    """A ranking label (best first) as one vote per pair: ((low id, high id), choice)."""
    votes = []
    for winner, loser in quality.ranking_to_pairs(list(ranking)):
        low, high = sorted((int(winner), int(loser)))
        votes.append(((low, high), "a" if winner == low else "b"))
    return votes
