"""Which answer an exported item carries: the consensus rule, in one place.

An *item* is a pair of responses: a pairwise comparison is one item; a ranking
comparison gives one item per pair of its responses (`ranking_to_pairs`). Votes are
stated for the item's lower response id ("a") against its higher one ("b").
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from apps.annotation.quality import Judgment, majority_vote, ranking_to_pairs, raw_agreement

CONSENSUS_RULE = (
    "Majority vote (plurality) of the current labels of each item: a superseded label is "
    "history and does not vote, an imported label votes like one annotator, and an item whose "
    "top answer is shared by two answers has no consensus and is left out. A k-way ranking "
    "votes on each pair of its responses (the better-ranked one wins). Agreement of an item is "
    "the share of its votes that went to the consensus."
)


@dataclass(frozen=True, slots=True)
class Vote:
    """One label's answer on one item: `a`, `b`, `tie` or `both_bad`, with its strength."""

    voter: Hashable
    choice: str
    strength: int | None = None


@dataclass(frozen=True, slots=True)
class Consensus:
    """The answer of an item (None without one), how many votes backed it, and how strongly.

    margin: the mean of (strength index + 1) / scale size over the winning votes that
    carry a strength, so 0 < margin <= 1; 0.0 when none carries one (rankings, imports).
    """

    choice: str | None
    agreement: float
    votes: int
    margin: float


def consensus(votes: Sequence[Vote], *, scale_size: int) -> Consensus:
    """Apply CONSENSUS_RULE to the votes of one item (at least one vote).

    A voter who appears twice keeps only their last vote: callers pass labels oldest first.
    """
    latest = {vote.voter: vote for vote in votes}
    if not latest:
        raise ValueError("an item needs at least one vote")
    winner = majority_vote(Judgment(0, voter, vote.choice) for voter, vote in latest.items())[0]
    counts: dict[str, int] = {}
    for vote in latest.values():
        counts[vote.choice] = counts.get(vote.choice, 0) + 1
    top = counts[winner] if winner is not None else max(counts.values())
    strengths = [
        (vote.strength + 1) / scale_size
        for vote in latest.values()
        if vote.choice == winner and vote.strength is not None
    ]
    return Consensus(
        choice=str(winner) if winner is not None else None,
        agreement=top / len(latest),
        votes=len(latest),
        margin=sum(strengths) / len(strengths) if strengths else 0.0,
    )


def ranking_votes(voter: Hashable, ranking: Sequence[int]) -> list[tuple[tuple[int, int], Vote]]:
    """A ranking label (best first) as one vote per pair: ((low id, high id), vote)."""
    votes = []
    for winner, loser in ranking_to_pairs(list(ranking)):
        low, high = sorted((int(winner), int(loser)))
        votes.append(((low, high), Vote(voter, "a" if winner == low else "b")))
    return votes


@dataclass
class AgreementTally:
    """Raw agreement over the exported items, summed item by item so memory stays flat."""

    n_items: int = 0
    n_pairs: int = 0
    n_agreeing: int = 0

    def add(self, item: Hashable, votes: Sequence[Vote]) -> None:
        latest = {vote.voter: vote.choice for vote in votes}
        estimate = raw_agreement(Judgment(item, voter, value) for voter, value in latest.items())
        if estimate.value is None:
            return
        self.n_items += estimate.n_items
        self.n_pairs += estimate.n_pairs
        self.n_agreeing += round(estimate.value * estimate.n_pairs)

    @property
    def value(self) -> float | None:
        return self.n_agreeing / self.n_pairs if self.n_pairs else None
