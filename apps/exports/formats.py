"""What each export format writes: its columns and its rows, streamed from the database.

Labels are read as plain values (no model instances) through a server-side cursor on
Postgres (`selectors.export_value_batches`), ordered by comparison, so memory depends on
the batch, not on the size of the project; each comparison's labels are resolved together.

JSON Lines of labels-raw and trl-preference on Postgres take a faster road
(`apps.exports.lines`): the database streams each comparison with its labels and the
JSON text of its prompt and responses. Both roads share the decisions made here (which
items and comparisons are kept, the data card's figures) and write the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from django.db.models import Q
from django.utils.crypto import salted_hmac

from apps.accounts.models import Project
from apps.annotation import columns
from apps.annotation.columns import LabelColumn, json_value
from apps.core.errors import ApplicationError
from apps.exports import selectors
from apps.exports.consensus import (
    AgreementTally,
    Ballot,
    ConsensusResolver,
    ItemConsensus,
    ItemKey,
    ranking_ballots,
)
from apps.exports.options import ExportOptions
from apps.exports.writers import (
    BOOL,
    FLOAT,
    INT,
    MESSAGES,
    TEXT,
    Column,
    ColumnType,
    list_of,
    struct_of,
)
from apps.prompts.models import Prompt
from apps.rewards.models import RewardFunctionVersion

CHUNK = 2000
BATCH = 2_000  # rows per fetch from the server-side cursors (memory: a batch of texts)
T = TypeVar("T")


@dataclass
class Stats:
    """What the data card reports about the rows written."""

    agreement: AgreementTally = field(default_factory=AgreementTally)
    annotators: set[int] = field(default_factory=set)
    imported_labels: int = 0
    rubric_versions: set[int] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)
    reviewed_items: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def count_label(self, annotator_id: int | None, rubric_version_id: int | None) -> None:
        if annotator_id is None:
            self.imported_labels += 1
        else:
            self.annotators.add(annotator_id)
        if rubric_version_id is not None:
            self.rubric_versions.add(rubric_version_id)


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
    # The annotators left out by the gold-accuracy filter (already in `label_filter`).
    excluded_annotators: frozenset[int] = frozenset()
    stats: Stats = field(default_factory=Stats)
    _pseudonyms: dict[int, str] = field(default_factory=dict)

    @property
    def scale(self) -> list[str]:
        return self.project.settings.strength_scale

    def prompt_value(self, prompt: Prompt) -> str | list[dict[str, Any]]:
        """The prompt in the export's form: a string, or a list of messages."""
        return self.prompt_from_input(prompt.pk, prompt.input)

    def prompt_from_input(self, prompt_id: int, value: Any) -> str | list[dict[str, Any]]:
        """The prompt's stored input (a string or a list of messages) in the export's form."""
        if self.conversational:
            if isinstance(value, list):
                return [{"role": m["role"], "content": m["content"]} for m in value]
            return [{"role": "user", "content": value}]
        if isinstance(value, list):
            raise ApplicationError(
                f"Prompt {prompt_id} is a chat transcript, which TRL's standard form cannot "
                "hold: export in conversational form."
            )
        return str(value)

    def prompt_type(self) -> ColumnType:
        return MESSAGES if self.conversational else TEXT

    def completion(self, text: str) -> str | list[dict[str, str]]:
        return [{"role": "assistant", "content": text}] if self.conversational else text

    def pseudonym(self, annotator_id: int) -> str:
        if (name := self._pseudonyms.get(annotator_id)) is None:
            name = self._pseudonyms[annotator_id] = annotator_pseudonym(annotator_id)
        return name


def annotator_pseudonym(user_id: int) -> str:
    """A stable keyed hash of the user id: the same person gets the same name in every export
    of this installation, and nobody without SECRET_KEY can tell who it is."""
    digest = salted_hmac("palate.exports.annotator", str(user_id)).hexdigest()
    return f"annotator-{digest[:16]}"


def batched(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


# A row and the content hash of its prompt, which decides its split.
Row = tuple[str, dict[str, Any]]


# --- comparisons: trl-preference and labels-raw ------------------------------------------

# Columns read for every label, in this order (a vote and what the data card counts);
# labels-raw adds its columns of `columns.LABEL_COLUMNS` (and a name).
BASE_FIELDS = (
    "id", "comparison_id", "annotator_id", "choice", "strength", "ranking", "rubric_version_id",
)  # fmt: skip
ID, COMPARISON, ANNOTATOR, CHOICE, STRENGTH, RANKING, RUBRIC = range(len(BASE_FIELDS))
# Columns of a comparison (selectors.COMPARISON_FIELDS).
C_ID, C_KIND, C_GOLD, C_PROMPT_ID, C_INPUT, C_HASH, C_A, C_B, C_A_TEXT, C_B_TEXT = range(10)
PAIR = "pair"


Items = dict[tuple[int, int], dict[Any, Ballot]]


def comparison_items(
    kind: str, a_id: int | None, b_id: int | None, labels: Iterable[tuple[Any, ...]]
) -> Items:
    """A comparison's items with their ballots, from its labels (BASE_FIELDS rows, by id).

    A pair is one item (a, b) whose ballots are its labels' choices; a ranking gives one
    item per pair of its responses. One ballot per voter: an annotator's latest label, or
    each imported label on its own.
    """
    items: Items = {}
    if kind == PAIR:
        ballots: dict[Any, Ballot] = {}
        for row in labels:
            if row[CHOICE]:
                voter = row[ANNOTATOR] if row[ANNOTATOR] is not None else ("import", row[ID])
                ballots[voter] = (row[CHOICE], row[STRENGTH])
        if ballots:
            items[(a_id, b_id)] = ballots  # type: ignore[index]
    else:
        for row in labels:
            ranking = json_value(row[RANKING], [])
            if not ranking:
                continue
            voter = row[ANNOTATOR] if row[ANNOTATOR] is not None else ("import", row[ID])
            for key, choice in ranking_ballots(ranking):
                items.setdefault(key, {})[voter] = (choice, None)
    return items


@dataclass(slots=True)
class _Group:
    """One comparison: its row of values, its current labels (value rows, by id), its
    prompt in the export's form, its response texts and its items with their ballots."""

    comparison: tuple[Any, ...]
    labels: list[tuple[Any, ...]]
    prompt: Any
    texts: dict[int, str]
    items: Items


def export_resolver(scope: Scope) -> ConsensusResolver:
    """The project's consensus over this export's labels (Dawid–Skene sees them all)."""
    resolver = ConsensusResolver(project=scope.project, scale_size=len(scope.scale))
    if resolver.needs_all_judgments:
        resolver = ConsensusResolver(
            project=scope.project, scale_size=len(scope.scale), judgments=_judgments(scope)
        )
    return resolver


def _judgments(scope: Scope) -> Iterator[tuple[ItemKey, Any, str]]:
    reader = _ComparisonReader(scope, BASE_FIELDS)
    for group in reader.groups(advance=False):
        comparison_id = group.comparison[C_ID]
        for (low, high), ballots in group.items.items():
            for voter, (choice, _) in ballots.items():
                yield (comparison_id, low, high), voter, choice


class _ComparisonReader:
    """Streams an export's labels grouped by comparison, each with its items and votes.

    Two server-side cursors in step: the labels (narrow rows, by comparison and id) and the
    comparisons they belong to (prompt and texts, once per comparison, by id). Both apply
    the same filters, so every label group finds its comparison by walking forward.
    """

    def __init__(self, scope: Scope, fields: tuple[str, ...]) -> None:
        self.scope = scope
        self.fields = fields
        self.has_rankings = selectors.project_has_rankings(project=scope.project)
        self._prompt_cache: tuple[int, Any] = (0, None)

    def _label_groups(self) -> Iterator[list[tuple[Any, ...]]]:
        scope = self.scope
        queryset = selectors.export_label_values(
            project=scope.project,
            label_filter=scope.label_filter,
            prompt_filter=selectors.export_prompt_filter(
                options=scope.options, prefix="comparison__prompt__"
            ),
            fields=self.fields,
        )
        rows: list[tuple[Any, ...]] = []
        current = None
        for batch in selectors.export_value_batches(queryset, size=BATCH):
            for row in batch:
                if row[COMPARISON] != current:
                    if rows:
                        yield rows
                    rows, current = [row], row[COMPARISON]
                else:
                    rows.append(row)
        if rows:
            yield rows

    def _comparisons(self) -> Iterator[list[tuple[Any, ...]]]:
        queryset = selectors.export_comparison_values(
            project=self.scope.project,
            label_filter=self.scope.label_filter,
            prompt_filter=self.scope.prompt_filter,
        )
        for batch in selectors.export_value_batches(queryset, size=BATCH):
            if self.has_rankings:
                ranked = [row[C_ID] for row in batch if row[C_KIND] != PAIR]
                texts = selectors.export_ranked_texts(comparison_ids=set(ranked)) if ranked else {}
                batch = [(*row, texts.get(row[C_ID], {})) for row in batch]
            yield batch

    def groups(self, *, advance: bool = True) -> Iterator[_Group]:
        comparisons = (row for batch in self._comparisons() for row in batch)
        step = self.scope.advance if advance else None
        for labels in self._label_groups():
            comparison_id = labels[0][COMPARISON]
            # Walk forward: a comparison labelled between the two reads has no label group.
            comparison = next(comparisons, None)
            while comparison is not None and comparison[C_ID] != comparison_id:
                comparison = next(comparisons, None)
            if comparison is None:  # deleted between the two reads
                return
            yield self._group(comparison, labels)
            if step is not None:
                step(1)

    def _group(self, comparison: tuple[Any, ...], rows: list[tuple[Any, ...]]) -> _Group:
        prompt_id = comparison[C_PROMPT_ID]
        if self._prompt_cache[0] != prompt_id:
            value = self.scope.prompt_from_input(prompt_id, json_value(comparison[C_INPUT], None))
            self._prompt_cache = (prompt_id, value)
        if comparison[C_KIND] == PAIR:
            texts = {comparison[C_A]: comparison[C_A_TEXT], comparison[C_B]: comparison[C_B_TEXT]}
        else:
            texts = comparison[-1]
        items = comparison_items(comparison[C_KIND], comparison[C_A], comparison[C_B], rows)
        return _Group(comparison, rows, self._prompt_cache[1], texts, items)


def _comparison_total(scope: Scope) -> int:
    return selectors.export_comparisons(
        project=scope.project,
        label_filter=scope.label_filter,
        prompt_filter=scope.prompt_filter,
        with_rankings=False,
        with_annotators=False,
    ).count()


# One item written by trl-preference: the chosen and rejected response ids, and the
# consensus (for margin and p_chosen).
Decision = tuple[int, int, ItemConsensus]


class TrlPreference:
    """`{"prompt", "chosen", "rejected"}` (+ `margin`, `p_chosen`): one row per item with a
    consensus."""

    def columns(self, scope: Scope) -> list[Column]:
        text = scope.prompt_type()
        columns = [Column("prompt", text), Column("chosen", text), Column("rejected", text)]
        if scope.options.margin:
            columns.append(Column("margin", FLOAT))
        if scope.options.soft_label:
            columns.append(Column("p_chosen", FLOAT))
        return columns

    items_total = staticmethod(_comparison_total)

    def rows(self, scope: Scope) -> Iterator[Row]:
        options = scope.options
        reader = _ComparisonReader(scope, BASE_FIELDS)
        resolver = export_resolver(scope)
        completion = scope.completion
        for group in reader.groups():
            comparison = group.comparison
            for chosen, rejected, result in self.decisions(
                scope, resolver, comparison[C_ID], comparison[C_KIND], group.items, group.labels
            ):
                row: dict[str, Any] = {
                    "prompt": group.prompt,
                    "chosen": completion(group.texts[chosen]),
                    "rejected": completion(group.texts[rejected]),
                }
                if options.margin:
                    row["margin"] = self.margin(result)
                if options.soft_label:
                    row["p_chosen"] = self.p_chosen(result)
                yield comparison[C_HASH], row

    def decisions(
        self,
        scope: Scope,
        resolver: ConsensusResolver,
        comparison_id: int,
        kind: str,
        items: Items,
        labels: list[tuple[Any, ...]],
    ) -> list[Decision]:
        """The comparison's items written, in order, each as (chosen, rejected, consensus);
        counts what the data card reports."""
        options, stats = scope.options, scope.stats
        is_pair = kind == PAIR
        counted = False
        decisions: list[Decision] = []
        for (low, high), ballots in items.items():
            votes = list(ballots.values())
            result = resolver.resolve((comparison_id, low, high), votes, is_pair=is_pair)
            if not self._keep(result, options, stats):
                continue
            stats.agreement.add([choice for choice, _ in votes])
            if result.reviewed:
                stats.reviewed_items += 1
            if not counted:
                counted = True
                for label in labels:
                    stats.count_label(label[ANNOTATOR], label[RUBRIC])
            decisions.append((high, low, result) if result.choice == "b" else (low, high, result))
        return decisions

    @staticmethod
    def margin(result: ItemConsensus) -> float:
        return result.margin if result.choice in ("a", "b") else 0.0

    @staticmethod
    def p_chosen(result: ItemConsensus) -> float:
        return result.p_a if result.choice != "b" else 1.0 - result.p_a

    @staticmethod
    def _keep(result: ItemConsensus, options: ExportOptions, stats: Stats) -> bool:
        if result.choice is None:
            stats.skip("no consensus (votes split evenly)")
            return False
        if (
            options.min_agreement is not None
            and not result.reviewed
            and result.agreement < options.min_agreement
        ):
            stats.skip("agreement below the minimum")
            return False
        if result.choice == "tie" and options.ties == "exclude":
            stats.skip("consensus is a tie")
            return False
        if result.choice == "both_bad" and options.both_bad == "exclude":
            stats.skip("consensus is both bad")
            return False
        return True


class LabelsRaw:
    """One row per current label, with its item, its annotator (pseudonymised) and context."""

    def columns(self, scope: Scope) -> list[Column]:
        return [
            Column("label_id", INT),
            Column("comparison_id", INT),
            Column("kind", TEXT),
            Column("is_gold", BOOL),
            Column("prompt_id", INT),
            Column("prompt", scope.prompt_type()),
            Column("response_ids", list_of(INT)),
            Column("responses", list_of(TEXT)),
            Column("annotator", TEXT),
            *(
                Column(name, TEXT if name == STRENGTH_LABEL else column.export_type)
                for name, column in own_columns()
            ),
        ]

    items_total = staticmethod(_comparison_total)

    def rows(self, scope: Scope) -> Iterator[Row]:
        return self._rows(scope, lines=False)  # type: ignore[return-value]

    def json_lines(self, scope: Scope) -> Iterator[tuple[str, bytes]]:
        """The rows as JSON Lines, each exactly `orjson.dumps(row)` plus a newline.

        What a comparison's labels share (its prompt and responses: most of the bytes) is
        encoded once per comparison, not once per label: JSONL exports of labels-raw spend
        most of their time here (tests/benchmarks/bench_export.py).
        """
        return self._rows(scope, lines=True)  # type: ignore[return-value]

    @staticmethod
    def resolver(scope: Scope) -> ConsensusResolver | None:
        """The consensus, when the minimum-agreement filter needs it."""
        return export_resolver(scope) if scope.options.min_agreement is not None else None

    @staticmethod
    def keep(
        scope: Scope,
        resolver: ConsensusResolver | None,
        comparison_id: int,
        kind: str,
        items: Items,
    ) -> bool:
        """Whether the comparison's labels are written (minimum agreement, averaged over its
        items unless a reviewer decided); counts the agreement of those written."""
        stats = scope.stats
        if resolver is not None:
            is_pair = kind == PAIR
            results = [
                resolver.resolve((comparison_id, *key), list(ballots.values()), is_pair=is_pair)
                for key, ballots in items.items()
            ]
            reviewed = any(result.reviewed for result in results)
            shares = [result.agreement for result in results]
            if not reviewed and (
                not shares or sum(shares) / len(shares) < scope.options.min_agreement  # type: ignore[operator]
            ):
                stats.skip("comparison agreement below the minimum")
                return False
        for ballots in items.values():
            stats.agreement.add([choice for choice, _ in ballots.values()])
        return True

    def _rows(self, scope: Scope, *, lines: bool) -> Iterator[tuple[str, Any]]:
        options, scale, stats = scope.options, scope.scale, scope.stats
        names = not options.pseudonymise_annotators
        fields = [*BASE_FIELDS]
        for _, column in columns.export_columns():
            if column.field not in fields:
                fields.append(column.field)
        if names:
            fields.append("annotator__username")
        reader = _ComparisonReader(scope, tuple(fields))
        resolver = self.resolver(scope)
        steps = len(scale)

        # Met often, each written once (a dictionary's lookup costs less than a call).
        strength_labels = Memo(lambda strength: scale[strength] if strength < steps else None)
        strength_labels[None] = None
        pseudonyms = Memo(scope.pseudonym)
        pseudonyms[None] = None

        # A label's own columns after the comparison's: their names, the fields they are
        # read from, in order, and the ones written otherwise than read, with how.
        owned = ["annotator"]
        if names:
            picked, writes = [len(fields) - 1], []
        else:
            picked, writes = [ANNOTATOR], [("annotator", pseudonyms.__getitem__)]
        for name, column in own_columns():
            owned.append(name)
            picked.append(fields.index(column.field))
            write = strength_labels.__getitem__ if name == STRENGTH_LABEL else column.to_export
            if write is not None:
                writes.append((name, write))
        pick = itemgetter(*picked)
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for group in reader.groups():
            comparison = group.comparison
            comparison_id = comparison[C_ID]
            if not self.keep(scope, resolver, comparison_id, comparison[C_KIND], group.items):
                continue
            response_ids = sorted(group.texts)
            content_hash = comparison[C_HASH]
            # The columns after label_id up to the annotator, the same for every label.
            shared = {
                "comparison_id": comparison_id,
                "kind": comparison[C_KIND],
                "is_gold": bool(comparison[C_GOLD]),
                "prompt_id": comparison[C_PROMPT_ID],
                "prompt": group.prompt,
                "response_ids": response_ids,
                "responses": [group.texts[pk] for pk in response_ids],
            }
            middle = dumps(shared)[1:-1] if lines else b""
            for label in group.labels:
                stats.count_label(label[ANNOTATOR], label[RUBRIC])
                own = dict(zip(owned, pick(label), strict=True))
                for name, write in writes:
                    own[name] = write(own[name])
                if lines:
                    # `{"label_id":N,` + shared + `,` + own without its `{`: the bytes of
                    # dumps() of the whole row, as orjson writes a dict key by key.
                    line = b'{"label_id":%d,%b,%b' % (
                        label[ID],
                        middle,
                        dumps(own, option=newline)[1:],
                    )
                    yield content_hash, line
                else:
                    yield content_hash, {"label_id": label[ID], **shared, **own}


STRENGTH_LABEL = "strength_label"


class Memo(dict[Any, Any]):
    """Values met often (annotator ids, strengths) and how they are written, each once."""

    def __init__(self, encode: Callable[[Any], Any]) -> None:
        super().__init__()
        self.encode = encode

    def __missing__(self, raw: Any) -> Any:
        value = self[raw] = self.encode(raw)
        return value


def own_columns() -> list[tuple[str, LabelColumn]]:
    """labels-raw's columns of a label's own, after the annotator: those of
    `columns.LABEL_COLUMNS`, and after the strength its label in the project's scale
    (STRENGTH_LABEL, written from the strength's column)."""
    own: list[tuple[str, LabelColumn]] = []
    for name, column in columns.export_columns():
        own.append((name, column))
        if name == "strength":
            own.append((STRENGTH_LABEL, column))
    return own


# --- responses: ratings and rewards ------------------------------------------------------


_RESPONSE_COLUMNS = ["prompt_id", "prompt", "response_id", "response", "model"]


def _response_columns(scope: Scope) -> list[Column]:
    types = [INT, scope.prompt_type(), INT, TEXT, TEXT]
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
        columns = [*_response_columns(scope), Column("labels", INT)]
        for name in self.criteria(scope):
            columns += [Column(name, FLOAT), Column(f"{name}_count", INT)]
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
                    scope.stats.count_label(label.annotator_id, label.rubric_version_id)
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
                yield response.prompt.content_hash, row

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
        components = struct_of(*((name, FLOAT) for name in self._components(scope)))
        return [
            *_response_columns(scope),
            Column("total", FLOAT),
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
            yield score.response.prompt.content_hash, row


FORMATS: dict[str, TrlPreference | LabelsRaw | Ratings | Rewards] = {
    "trl-preference": TrlPreference(),
    "labels-raw": LabelsRaw(),
    "rewards": Rewards(),
}


def format_for(name: str) -> TrlPreference | LabelsRaw | Ratings | Rewards:
    """A fresh format object (Ratings keeps per-export state)."""
    return Ratings() if name == "ratings" else FORMATS[name]
