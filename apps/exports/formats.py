"""What each export format writes: its columns and its rows, streamed from the database.

Each format reads with `.iterator(chunk_size=CHUNK)` (a server-side cursor on Postgres),
so memory depends on the chunk, not on the size of the project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

import pyarrow as pa
from django.db.models import Q
from django.utils.crypto import salted_hmac

from apps.accounts.models import Project
from apps.annotation.models import Comparison, Label
from apps.core.errors import ApplicationError
from apps.exports import selectors
from apps.exports.consensus import AgreementTally, Vote, consensus, ranking_votes
from apps.exports.options import ExportOptions
from apps.exports.writers import MESSAGES, Column
from apps.prompts.models import Prompt
from apps.rewards.models import RewardFunctionVersion

CHUNK = 2000
T = TypeVar("T")


@dataclass
class Stats:
    """What the data card reports about the rows written."""

    agreement: AgreementTally = field(default_factory=AgreementTally)
    annotators: set[int] = field(default_factory=set)
    imported_labels: int = 0
    rubric_versions: set[int] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def count_label(self, label: Label) -> None:
        if label.annotator_id is None:
            self.imported_labels += 1
        else:
            self.annotators.add(label.annotator_id)
        if label.rubric_version_id is not None:
            self.rubric_versions.add(label.rubric_version_id)


@dataclass
class Scope:
    """One export's inputs, resolved once when it starts."""

    project: Project
    options: ExportOptions
    conversational: bool
    label_filter: Q
    prompt_filter: Q
    advance: Callable[[int], None]
    reward_version: RewardFunctionVersion | None = None
    stats: Stats = field(default_factory=Stats)

    @property
    def scale(self) -> list[str]:
        return self.project.settings.strength_scale

    def prompt_value(self, prompt: Prompt) -> str | list[dict[str, Any]]:
        """The prompt in the export's form: a string, or a list of messages."""
        if self.conversational:
            return [{"role": m["role"], "content": m["content"]} for m in prompt.messages]
        if prompt.is_chat:
            raise ApplicationError(
                f"Prompt {prompt.pk} is a chat transcript, which TRL's standard form cannot "
                "hold: export in conversational form."
            )
        return str(prompt.input)

    def prompt_type(self) -> pa.DataType:
        return MESSAGES if self.conversational else pa.string()

    def completion(self, text: str) -> str | list[dict[str, str]]:
        return [{"role": "assistant", "content": text}] if self.conversational else text

    def annotator(self, label: Label) -> str | None:
        if label.annotator_id is None:
            return None
        if self.options.pseudonymise_annotators:
            return annotator_pseudonym(label.annotator_id)
        return label.annotator.username


def annotator_pseudonym(user_id: int) -> str:
    """A stable keyed hash of the user id: the same person gets the same name in every export
    of this installation, and nobody without SECRET_KEY can tell who it is."""
    digest = salted_hmac("palate.exports.annotator", str(user_id)).hexdigest()
    return f"annotator-{digest[:16]}"


def batched(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


Row = tuple[Prompt, dict[str, Any]]


# --- comparisons: trl-preference and labels-raw ------------------------------------------


def _voter(label: Label) -> object:
    return label.annotator_id if label.annotator_id is not None else ("import", label.pk)


def _items(comparison: Comparison) -> dict[tuple[int, int], list[tuple[Label, Vote]]]:
    """The comparison's items (pairs of response ids, low first) with their votes."""
    items: dict[tuple[int, int], list[tuple[Label, Vote]]] = {}
    for label in comparison.usable_labels:  # type: ignore[attr-defined]
        if comparison.kind == Comparison.Kind.PAIR and label.choice:
            key = (comparison.response_a_id, comparison.response_b_id)
            vote = Vote(_voter(label), label.choice, label.strength)
            items.setdefault(key, []).append((label, vote))  # type: ignore[arg-type]
        elif comparison.kind == Comparison.Kind.RANKING and label.ranking:
            for key, vote in ranking_votes(_voter(label), label.ranking):
                items.setdefault(key, []).append((label, vote))
    return items


def _texts(comparison: Comparison) -> dict[int, str]:
    if comparison.kind == Comparison.Kind.PAIR:
        return {r.pk: r.text for r in (comparison.response_a, comparison.response_b) if r}
    # Prefetched whenever the project has rankings (see _comparisons).
    return {r.pk: r.text for r in comparison.ranked_responses.all()}


def _comparisons(scope: Scope) -> Iterator[Comparison]:
    queryset = selectors.export_comparisons(
        project=scope.project,
        label_filter=scope.label_filter,
        prompt_filter=scope.prompt_filter,
        with_rankings=selectors.project_has_rankings(project=scope.project),
        with_annotators=not scope.options.pseudonymise_annotators,
    )
    for comparison in queryset.iterator(chunk_size=CHUNK):
        yield comparison
        scope.advance(1)


def _comparison_total(scope: Scope) -> int:
    return selectors.export_comparisons(
        project=scope.project,
        label_filter=scope.label_filter,
        prompt_filter=scope.prompt_filter,
        with_rankings=False,
        with_annotators=False,
    ).count()


class TrlPreference:
    """`{"prompt", "chosen", "rejected"}` (+ `margin`): one row per item with a consensus."""

    def columns(self, scope: Scope) -> list[Column]:
        text = scope.prompt_type()
        columns = [Column("prompt", text), Column("chosen", text), Column("rejected", text)]
        if scope.options.margin:
            columns.append(Column("margin", pa.float64()))
        return columns

    items_total = staticmethod(_comparison_total)

    def rows(self, scope: Scope) -> Iterator[Row]:
        options, scale_size = scope.options, len(scope.scale)
        for comparison in _comparisons(scope):
            texts = _texts(comparison)
            prompt = scope.prompt_value(comparison.prompt)
            for (low, high), voted in _items(comparison).items():
                votes = [vote for _, vote in voted]
                result = consensus(votes, scale_size=scale_size)
                if result.choice is None:
                    scope.stats.skip("no consensus (votes split evenly)")
                    continue
                if options.min_agreement is not None and result.agreement < options.min_agreement:
                    scope.stats.skip("agreement below the minimum")
                    continue
                if result.choice == "tie" and options.ties == "exclude":
                    scope.stats.skip("consensus is a tie")
                    continue
                if result.choice == "both_bad" and options.both_bad == "exclude":
                    scope.stats.skip("consensus is both bad")
                    continue
                scope.stats.agreement.add((comparison.pk, low, high), votes)
                for label, _ in voted:
                    scope.stats.count_label(label)
                chosen, rejected = (high, low) if result.choice == "b" else (low, high)
                row: dict[str, Any] = {
                    "prompt": prompt,
                    "chosen": scope.completion(texts[chosen]),
                    "rejected": scope.completion(texts[rejected]),
                }
                if options.margin:
                    row["margin"] = result.margin if result.choice in ("a", "b") else 0.0
                yield comparison.prompt, row


RATING = pa.struct([("response_id", pa.int64()), ("criterion", pa.string()), ("value", pa.int64())])
SPAN = pa.struct(
    [
        ("response", pa.int64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("category", pa.string()),
        ("note", pa.string()),
    ]
)


class LabelsRaw:
    """One row per current label, with its item, its annotator (pseudonymised) and context."""

    def columns(self, scope: Scope) -> list[Column]:
        integer, text = pa.int64(), pa.string()
        return [
            Column("label_id", integer),
            Column("comparison_id", integer),
            Column("kind", text),
            Column("is_gold", pa.bool_()),
            Column("prompt_id", integer),
            Column("prompt", scope.prompt_type()),
            Column("response_ids", pa.list_(integer)),
            Column("responses", pa.list_(text)),
            Column("annotator", text),
            Column("source", text),
            Column("choice", text),
            Column("strength", integer),
            Column("strength_label", text),
            Column("ranking", pa.list_(integer)),
            Column("ratings", pa.list_(RATING)),
            Column("spans", pa.list_(SPAN)),
            Column("rationale", text),
            Column("shown_order", text),
            Column("seconds_spent", pa.float64()),
            Column("rubric_version_id", integer),
            Column("created_at", text),
        ]

    items_total = staticmethod(_comparison_total)

    def rows(self, scope: Scope) -> Iterator[Row]:
        options, scale = scope.options, scope.scale
        for comparison in _comparisons(scope):
            items = _items(comparison)
            if options.min_agreement is not None:
                shares = [
                    consensus([vote for _, vote in voted], scale_size=len(scale)).agreement
                    for voted in items.values()
                ]
                if not shares or sum(shares) / len(shares) < options.min_agreement:
                    scope.stats.skip("comparison agreement below the minimum")
                    continue
            for key, voted in items.items():
                scope.stats.agreement.add((comparison.pk, *key), [vote for _, vote in voted])
            texts = _texts(comparison)
            prompt = scope.prompt_value(comparison.prompt)
            response_ids = sorted(texts)
            for label in comparison.usable_labels:  # type: ignore[attr-defined]
                scope.stats.count_label(label)
                strength = label.strength
                yield (
                    comparison.prompt,
                    {
                        "label_id": label.pk,
                        "comparison_id": comparison.pk,
                        "kind": comparison.kind,
                        "is_gold": comparison.is_gold,
                        "prompt_id": comparison.prompt_id,
                        "prompt": prompt,
                        "response_ids": response_ids,
                        "responses": [texts[pk] for pk in response_ids],
                        "annotator": scope.annotator(label),
                        "source": label.source,
                        "choice": label.choice,
                        "strength": strength,
                        "strength_label": (
                            scale[strength]
                            if strength is not None and strength < len(scale)
                            else None
                        ),
                        "ranking": [int(pk) for pk in label.ranking],
                        "ratings": [
                            {"response_id": int(pk), "criterion": name, "value": value}
                            for pk, values in sorted(
                                label.ratings.items(), key=lambda kv: int(kv[0])
                            )
                            for name, value in sorted(values.items())
                        ],
                        "spans": [
                            {
                                "response": span["response"],
                                "start": span["start"],
                                "end": span["end"],
                                "category": span.get("category", ""),
                                "note": span.get("note", ""),
                            }
                            for span in label.spans
                        ],
                        "rationale": label.rationale,
                        "shown_order": label.shown_order,
                        "seconds_spent": label.seconds_spent,
                        "rubric_version_id": label.rubric_version_id,
                        "created_at": label.created_at.isoformat(),
                    },
                )


# --- responses: ratings and rewards ------------------------------------------------------


_RESPONSE_COLUMNS = ["prompt_id", "prompt", "response_id", "response", "model"]


def _response_columns(scope: Scope) -> list[Column]:
    integer, text = pa.int64(), pa.string()
    types = [integer, scope.prompt_type(), integer, text, text]
    return [Column(name, kind) for name, kind in zip(_RESPONSE_COLUMNS, types, strict=True)]


class Ratings:
    """One row per rated response: the mean and count of each criterion (HelpSteer-like)."""

    def __init__(self) -> None:
        self._criteria: list[str] | None = None

    def criteria(self, scope: Scope) -> list[str]:
        if self._criteria is None:
            self._criteria = selectors.export_rating_criteria(project=scope.project)
            taken = {*_RESPONSE_COLUMNS, "labels"}
            for name in self._criteria:
                if name in taken or f"{name}_count" in taken:
                    raise ApplicationError(
                        f"The criterion {name!r} has the name of a column of the ratings format."
                    )
        return self._criteria

    def columns(self, scope: Scope) -> list[Column]:
        columns = [*_response_columns(scope), Column("labels", pa.int64())]
        for name in self.criteria(scope):
            columns += [Column(name, pa.float64()), Column(f"{name}_count", pa.int64())]
        return columns

    def items_total(self, scope: Scope) -> int:
        return selectors.export_responses(
            project=scope.project, prompt_filter=scope.prompt_filter
        ).count()

    def rows(self, scope: Scope) -> Iterator[Row]:
        criteria = self.criteria(scope)
        responses = selectors.export_responses(
            project=scope.project, prompt_filter=scope.prompt_filter
        ).iterator(chunk_size=CHUNK)
        for batch in batched(responses, CHUNK):
            wanted = {str(response.pk) for response in batch}
            sums: dict[str, dict[str, list[int]]] = {}
            labelled: dict[str, int] = {}
            labels = selectors.export_rating_labels(
                label_filter=scope.label_filter, response_ids=[r.pk for r in batch]
            ).only("id", "annotator_id", "rubric_version_id", "ratings")
            for label in labels.iterator(chunk_size=CHUNK):
                used = False
                for pk, values in label.ratings.items():
                    if pk not in wanted or not values:
                        continue
                    used = True
                    labelled[pk] = labelled.get(pk, 0) + 1
                    for name, value in values.items():
                        sums.setdefault(pk, {}).setdefault(name, [0, 0])
                        sums[pk][name][0] += value
                        sums[pk][name][1] += 1
                if used:
                    scope.stats.count_label(label)
            for response in batch:
                scope.advance(1)
                key = str(response.pk)
                if key not in labelled:
                    continue
                row = self._base(scope, response)
                row["labels"] = labelled[key]
                for name in criteria:
                    total, count = sums.get(key, {}).get(name, (0, 0))
                    row[name] = total / count if count else None
                    row[f"{name}_count"] = count
                yield response.prompt, row

    @staticmethod
    def _base(scope: Scope, response: Any) -> dict[str, Any]:
        return {
            "prompt_id": response.prompt_id,
            "prompt": scope.prompt_value(response.prompt),
            "response_id": response.pk,
            "response": response.text,
            "model": response.model,
        }


class Rewards:
    """One row per scored response: a reward function version's total and components."""

    def _version(self, scope: Scope) -> RewardFunctionVersion:
        if scope.reward_version is None:
            raise ApplicationError("reward_version_id: the rewards format needs a version.")
        return scope.reward_version

    def _components(self, scope: Scope) -> list[str]:
        return [component.name for component in self._version(scope).parsed_spec.components]

    def columns(self, scope: Scope) -> list[Column]:
        components = pa.struct([(name, pa.float64()) for name in self._components(scope)])
        return [
            *_response_columns(scope),
            Column("total", pa.float64()),
            Column("components", components),
        ]

    def items_total(self, scope: Scope) -> int:
        return selectors.export_scores(
            version=self._version(scope),
            prompt_filter=selectors.export_prompt_filter(
                options=scope.options, prefix="response__prompt__"
            ),
        ).count()

    def rows(self, scope: Scope) -> Iterator[Row]:
        names = self._components(scope)
        scores = selectors.export_scores(
            version=self._version(scope),
            prompt_filter=selectors.export_prompt_filter(
                options=scope.options, prefix="response__prompt__"
            ),
        )
        for score in scores.iterator(chunk_size=CHUNK):
            scope.advance(1)
            row = Ratings._base(scope, score.response)
            row["total"] = score.total
            row["components"] = {
                name: None if score.components.get(name) is None else float(score.components[name])
                for name in names
            }
            yield score.response.prompt, row


FORMATS: dict[str, TrlPreference | LabelsRaw | Ratings | Rewards] = {
    "trl-preference": TrlPreference(),
    "labels-raw": LabelsRaw(),
    "rewards": Rewards(),
}


def format_for(name: str) -> TrlPreference | LabelsRaw | Ratings | Rewards:
    """A fresh format object (Ratings keeps per-export state)."""
    return Ratings() if name == "ratings" else FORMATS[name]
