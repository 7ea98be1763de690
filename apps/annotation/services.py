"""Writes for the annotation workbench: comparisons, the queue, judgments, skips and flags.

The queue hands out leases with `SELECT … FOR UPDATE SKIP LOCKED` on the comparison
row. Every lease of a comparison is made while holding that row's lock, and the room
left on it is checked again in a fresh statement after the lock is taken, so under READ
COMMITTED no number of concurrent annotators can push a comparison past its overlap.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability, role_can
from apps.accounts.settings_schema import AnnotationMode, Pairing
from apps.annotation import queue_sql
from apps.annotation.models import Assignment, Comparison, Flag, Label
from apps.annotation.reports import agreement_request
from apps.annotation.review import annotator_paused, comparison_mark_gold, gold_check
from apps.annotation.schema import MAX_SECONDS, Choice, Judgment
from apps.annotation.selectors import label_undoable
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import RubricVersion

logger = logging.getLogger(__name__)

PROMPT_CHUNK = 500
MAX_CANDIDATE_TRIES = 5
_random = random.SystemRandom()


# --- comparisons ----------------------------------------------------------------------


def _pairs_for(response_ids: list[int], scores: dict[int, float | None], *, project_id: int,
               prompt_id: int, pairing: Pairing, k: int, existing: set[tuple[int, int]],
               ) -> list[tuple[int, int]]:  # fmt: skip
    """The new pairs a prompt should get under `pairing`, as (lower id, higher id)."""
    if len(response_ids) < 2:
        return []
    if pairing == Pairing.ALL_PAIRS:
        wanted = list(itertools.combinations(sorted(response_ids), 2))
    elif pairing == Pairing.ADJACENT_BY_SCORE:
        # Unscored responses sort last, in id order, so they still get compared.
        ranked = sorted(response_ids, key=lambda pk: (scores[pk] is None, scores[pk] or 0.0, pk))
        wanted = [(min(a, b), max(a, b)) for a, b in itertools.pairwise(ranked)]
    else:
        missing = k - len(existing)
        if missing <= 0:
            return []
        covered = {pk for pair in existing for pk in pair}
        candidates = [
            p for p in itertools.combinations(sorted(response_ids), 2) if p not in existing
        ]
        # Seeded per prompt, so the same data always gives the same pairs. Greedy: each
        # pick prefers a pair that brings in responses no comparison shows yet.
        random.Random(f"{project_id}:{prompt_id}").shuffle(candidates)
        wanted = []
        for _ in range(min(missing, len(candidates))):
            best = max(candidates, key=lambda p: (p[0] not in covered) + (p[1] not in covered))
            candidates.remove(best)
            covered.update(best)
            wanted.append(best)
    return [pair for pair in wanted if pair not in existing]


def _score(metadata: object, key: str) -> float | None:
    value = metadata.get(key) if isinstance(metadata, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@transaction.atomic
def comparisons_generate(*, project: Project, prompt_ids: Iterable[int] | None = None) -> int:
    """Make the comparisons the project's settings ask for; return how many were created.

    Pairwise projects get pairs by the `pairing` setting; ranking projects one item per
    prompt with up to `ranking_size` responses. Idempotent: existing comparisons are kept
    (with their labels), so calling it after an import only adds what new responses need.
    """
    Project.objects.select_for_update().filter(pk=project.pk).exists()
    settings = project.settings
    prompts = Prompt.objects.filter(project=project).order_by("pk")
    if prompt_ids is not None:
        prompts = prompts.filter(pk__in=list(prompt_ids))
    created = 0
    ids = list(prompts.values_list("pk", flat=True))
    for start in range(0, len(ids), PROMPT_CHUNK):
        chunk = ids[start : start + PROMPT_CHUNK]
        if settings.mode == AnnotationMode.RANKING:
            created += _rankings_generate(project, chunk, size=settings.ranking_size,
                                          overlap=settings.overlap)  # fmt: skip
        else:
            created += _pairs_generate(project, chunk)
    return created


def _pairs_generate(project: Project, prompt_ids: list[int]) -> int:
    settings = project.settings
    needs_scores = settings.pairing == Pairing.ADJACENT_BY_SCORE
    fields = ["prompt_id", "pk", "metadata"] if needs_scores else ["prompt_id", "pk"]
    responses: dict[int, list[int]] = {}
    scores: dict[int, float | None] = {}
    for row in (
        Response.objects.filter(prompt_id__in=prompt_ids).order_by("pk").values_list(*fields)
    ):
        responses.setdefault(row[0], []).append(row[1])
        scores[row[1]] = _score(row[2], settings.score_key) if needs_scores else None
    existing: dict[int, set[tuple[int, int]]] = {}
    for prompt_id, a, b in Comparison.objects.filter(
        prompt_id__in=prompt_ids, kind=Comparison.Kind.PAIR
    ).values_list("prompt_id", "response_a_id", "response_b_id"):
        existing.setdefault(prompt_id, set()).add((a, b))
    new = [
        Comparison(
            project=project,
            prompt_id=prompt_id,
            response_a_id=a,
            response_b_id=b,
            labels_wanted=settings.overlap,
        )  # fmt: skip
        for prompt_id, response_ids in responses.items()
        for a, b in _pairs_for(
            response_ids,
            scores,
            project_id=project.pk,
            prompt_id=prompt_id,
            pairing=settings.pairing,
            k=settings.pairs_per_prompt,
            existing=existing.get(prompt_id, set()),
        )  # fmt: skip
    ]
    Comparison.objects.bulk_create(new, batch_size=1000)
    return len(new)


def _rankings_generate(project: Project, prompt_ids: list[int], *, size: int, overlap: int) -> int:
    responses: dict[int, list[int]] = {}
    rows = Response.objects.filter(prompt_id__in=prompt_ids).order_by("pk")
    for prompt_id, pk in rows.values_list("prompt_id", "pk"):
        responses.setdefault(prompt_id, []).append(pk)
    existing = {
        c.prompt_id: c
        for c in Comparison.objects.filter(prompt_id__in=prompt_ids, kind=Comparison.Kind.RANKING)
        .annotate(labelled=Exists(Label.objects.filter(comparison=OuterRef("pk"))))
    }  # fmt: skip
    through = Comparison.ranked_responses.through
    members: dict[int, set[int]] = {}
    for comparison_id, response_id in through.objects.filter(
        comparison_id__in=[c.pk for c in existing.values()]
    ).values_list("comparison_id", "response_id"):
        members.setdefault(comparison_id, set()).add(response_id)
    new_items = Comparison.objects.bulk_create(
        Comparison(
            project=project,
            prompt_id=prompt_id,
            kind=Comparison.Kind.RANKING,
            labels_wanted=overlap,
        )  # fmt: skip
        for prompt_id, response_ids in responses.items()
        if len(response_ids) >= 2 and prompt_id not in existing
    )
    # A ranking that people have judged keeps the responses they saw.
    items = [c for c in existing.values() if not c.labelled] + new_items
    links = []
    for item in items:
        shown = members.get(item.pk, set())
        additions = [pk for pk in responses.get(item.prompt_id, []) if pk not in shown]
        links += [
            through(comparison_id=item.pk, response_id=pk)
            for pk in additions[: max(size - len(shown), 0)]
        ]
    through.objects.bulk_create(links, batch_size=1000)
    return len(new_items)


@transaction.atomic
def comparison_create(
    *,
    project: Project,
    response_ids: Sequence[int],
    priority: int = 0,
    labels_wanted: int | None = None,
    is_gold: bool = False,
    gold_choice: str = "",
) -> Comparison:
    """Create one comparison by hand: two responses make a pair, three or more a ranking.

    The responses must belong to one prompt of the project. A pair that exists already is
    an error naming it, not a second copy.
    """
    ids = list(dict.fromkeys(response_ids))
    if len(ids) != len(response_ids):
        raise ApplicationError("responses: the same response is listed twice.")
    if len(ids) < 2:
        raise ApplicationError("responses: a comparison needs at least two responses.")
    found = dict(
        Response.objects.filter(pk__in=ids, prompt__project=project).values_list("pk", "prompt_id")
    )
    if missing := [pk for pk in ids if pk not in found]:
        raise ApplicationError(f"responses: no response {missing[0]} in this project.")
    if len(set(found.values())) != 1:
        raise ApplicationError("responses: all responses must answer the same prompt.")
    prompt_id = found[ids[0]]
    wanted = project.settings.overlap if labels_wanted is None else labels_wanted
    if len(ids) == 2:
        gold = gold_choice if is_gold else ""
        if is_gold and gold not in {choice.value for choice in Choice}:
            raise ApplicationError(
                "gold_choice: a gold pair needs its answer: a, b, tie or both_bad."
            )
        a, b = sorted(ids)
        if existing := Comparison.objects.filter(response_a_id=a, response_b_id=b).first():
            raise ApplicationError(f"responses: comparison {existing.pk} already pairs them.")
        return Comparison.objects.create(
            project=project, prompt_id=prompt_id, response_a_id=a, response_b_id=b,
            priority=priority, labels_wanted=wanted, is_gold=is_gold, gold_choice=gold,
        )  # fmt: skip
    if is_gold:
        raise ApplicationError("is_gold: gold items are pairs with a known answer.")
    if Comparison.objects.filter(prompt_id=prompt_id, kind=Comparison.Kind.RANKING).exists():
        raise ApplicationError("responses: this prompt already has a ranking item.")
    item = Comparison.objects.create(
        project=project, prompt_id=prompt_id, kind=Comparison.Kind.RANKING,
        priority=priority, labels_wanted=wanted,
    )  # fmt: skip
    item.ranked_responses.set(ids)
    return item


@transaction.atomic
def comparison_update(
    *,
    comparison: Comparison,
    priority: int | None = None,
    labels_wanted: int | None = None,
    gold_choice: str | None = None,
    set_gold: bool = False,
) -> Comparison:
    """Change how a comparison is served: its priority, how many labels it wants, and
    (with `set_gold`) its gold answer, `gold_choice=None` making it an ordinary item again.

    Labels already given are kept: wanting fewer than are done only stops new leases.
    The row is locked, so a concurrent label's count is not overwritten.
    """
    locked = Comparison.objects.select_for_update().get(pk=comparison.pk)
    fields = []
    if priority is not None:
        locked.priority = priority
        fields.append("priority")
    if labels_wanted is not None:
        locked.labels_wanted = labels_wanted
        fields.append("labels_wanted")
    if fields:
        locked.save(update_fields=[*fields, "updated_at"])
    if set_gold:
        comparison_mark_gold(comparison=locked, gold_choice=gold_choice)
    return locked


# --- the queue ------------------------------------------------------------------------


def _lease(
    candidate: queue_sql.Candidate, project: Project, user: User, now: datetime,
    with_texts: bool,
) -> Assignment | None:  # fmt: skip
    """Lease the locked candidate if it is still open; None if its room went meanwhile."""
    comparison_id, kind, response_a_id, response_b_id, prompt_id, is_gold = candidate
    if kind == Comparison.Kind.PAIR:
        order = [response_a_id, response_b_id]
    else:
        through = Comparison.ranked_responses.through
        order = list(
            through.objects.filter(comparison_id=comparison_id)
            .order_by("response_id")
            .values_list("response_id", flat=True)
        )
    _random.shuffle(order)
    expires_at = now + timedelta(minutes=project.settings.lease_minutes)
    # One statement: checks the room again (the candidate query's snapshot may predate
    # a lease committed just before we got the lock) and makes the lease, or renews
    # this person's lease that ran out.
    leased = queue_sql.lease_insert(
        project_id=project.pk, user_id=user.pk, comparison_id=comparison_id, gold=is_gold,
        order=order, now=now, expires_at=expires_at, with_texts=with_texts,
    )  # fmt: skip
    if leased is None:
        return None
    assignment_id, shown = leased
    # What callers show, without reading the row we just locked again.
    assignment = Assignment(
        pk=assignment_id, project=project, annotator=user, status=Assignment.Status.LEASED,
        display_order=order, leased_at=now, expires_at=expires_at, created_at=now,
        updated_at=now,
        comparison=Comparison(
            pk=comparison_id, project=project, prompt_id=prompt_id, kind=kind,
            response_a_id=response_a_id, response_b_id=response_b_id, is_gold=is_gold,
        ),
    )  # fmt: skip
    if shown is not None:
        assignment.shown = shown  # type: ignore[attr-defined]
    return assignment


def assignment_next(
    *, project: Project, user: User, exclude: Iterable[int] = (), now: datetime | None = None,
    with_texts: bool = False,
) -> Assignment | None:  # fmt: skip
    """Lease the next comparison to `user`, or return None when their queue is empty.

    The assignment comes with `comparison` (its ids and kind) and `project` filled in;
    with `with_texts`, a new lease also with `shown` (what the person is shown, see
    `selectors.assignment_shown`), read in the same statement as the lease.

    A lease they already hold (other than those in `exclude`, e.g. the item on their
    screen) is returned first. Otherwise the highest-priority comparison that still
    needs labels, that they have neither labelled nor skipped, and that is leased fewer
    times than it has room for. Gold items are drawn at the project's gold rate.
    """
    now = now or timezone.now()
    held_id = queue_sql.lease_held_id(
        project_id=project.pk, user_id=user.pk, now=now, exclude=list(exclude)
    )
    return assignment_next_after(
        project=project, user=user, held_id=held_id, now=now, with_texts=with_texts
    )


def assignment_next_after(
    *, project: Project, user: User, held_id: int | None, now: datetime, with_texts: bool = False
) -> Assignment | None:
    """`assignment_next` once the caller has looked up, at `now`, the lease the person
    holds (`held_id`: `queue_sql.lease_held_id`, or `selectors.project_for_next`). That
    lookup takes no lock, so it needs no transaction with what follows."""
    if held_id is not None:
        held = Assignment.objects.select_related("comparison").get(pk=held_id)
        held.project = project
        return held
    return _lease_new(project, user, now, with_texts)


@transaction.atomic
def _lease_new(project: Project, user: User, now: datetime, with_texts: bool) -> Assignment | None:
    if project.settings.gold_pause_below is not None and (
        status := annotator_paused(project=project, user=user)
    ):
        raise ApplicationError(
            f"Your queue in this project is paused: {status.pause_reason} "
            "An admin of the project can resume it."
        )
    gold_rate = project.settings.gold_rate
    kinds = [True, False] if gold_rate and _random.random() < gold_rate else [False]
    for gold in kinds:
        tried: list[int] = []
        for _ in range(MAX_CANDIDATE_TRIES):
            candidate = queue_sql.candidate_lock(
                project_id=project.pk, user_id=user.pk, gold=gold, now=now, tried=tried
            )
            if candidate is None:
                break
            if (assignment := _lease(candidate, project, user, now, with_texts)) is not None:
                return assignment
            tried.append(candidate[0])
    return None


def _assignment_locked(assignment_id: int, user: User) -> Assignment:
    """The person's assignment locked, with `comparison` and `project`; else an error."""
    found = queue_sql.assignment_lock(assignment_id=assignment_id, user_id=user.pk)
    if found is None:
        raise ApplicationError("This item is not assigned to you.")
    return found.assignment


@transaction.atomic
def assignment_skip(*, assignment: Assignment, user: User, reason: str) -> Assignment:
    """Give an item back without judging it; it is not offered to this person again."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("reason: say why you skip this item.")
    assignment = _assignment_locked(assignment.pk, user)
    if assignment.status != Assignment.Status.LEASED:
        raise ApplicationError("This item is not open any more.")
    already = Label.objects.filter(
        assignment=assignment, superseded_by__isnull=True, annotator=user
    ).exists()
    # Skipping an item reopened by undo keeps the judgment made before.
    assignment.status = Assignment.Status.DONE if already else Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:300]
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "skip_reason", "finished_at", "updated_at"])
    return assignment


@transaction.atomic
def comparison_flag(*, comparison: Comparison, user: User, reason: str) -> Flag:
    """Mark a comparison for a reviewer (broken, harmful, unclear); the annotator may go on."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("reason: say what is wrong with this item.")
    if not Assignment.objects.filter(comparison=comparison, annotator=user).exists():
        raise ApplicationError("This item is not assigned to you.")
    return Flag.objects.create(comparison=comparison, user=user, reason=reason[:500])


# --- judgments ------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    label: Label
    created: bool


def rubric_version_in_force(project: Project) -> RubricVersion | None:
    """The latest version of the project's rubric: what new labels are made under."""
    rubric_id = project.settings.rubric_id
    if rubric_id is None:
        return None
    versions = RubricVersion.objects.filter(rubric_id=rubric_id).select_related("rubric")
    return versions.order_by("-number").first()


def _check(judgment: Judgment, assignment: Assignment, rubric: RubricVersion | None) -> None:
    """Raise ApplicationError naming the field when the judgment does not fit its item."""
    project, comparison = assignment.project, assignment.comparison
    settings = project.settings
    shown = [int(pk) for pk in assignment.display_order]
    if comparison.kind == Comparison.Kind.PAIR:
        if judgment.ranking:
            raise ApplicationError("ranking: this item is a pair; send a choice.")
        if judgment.choice is None:
            raise ApplicationError("choice: pick a, b, tie or both_bad.")
        if judgment.strength is not None and judgment.strength >= len(settings.strength_scale):
            raise ApplicationError(
                f"strength: must be from 0 to {len(settings.strength_scale) - 1}."
            )
    else:
        if judgment.choice is not None:
            raise ApplicationError("choice: this item is a ranking; send a ranking.")
        if sorted(judgment.ranking) != sorted(shown):
            raise ApplicationError("ranking: order every response of the item, each once.")
    if settings.rationale_required and not judgment.rationale.strip():
        raise ApplicationError("rationale: this project asks for a short rationale.")
    spec = rubric.spec if rubric else None
    criteria = {c.name: c for c in spec.criteria} if spec else {}
    for response_id, values in judgment.ratings.items():
        if response_id not in shown:
            raise ApplicationError(f"ratings: response {response_id} is not in this item.")
        for name, value in values.items():
            criterion = criteria.get(name)
            if criterion is None:
                raise ApplicationError(f"ratings: no criterion {name!r} in the rubric.")
            if not criterion.scale.min <= value <= criterion.scale.max:
                raise ApplicationError(
                    f"ratings: {name} must be from {criterion.scale.min} to {criterion.scale.max}."
                )
    if judgment.spans:
        categories = {c.name for c in spec.error_categories} if spec else set()
        lengths = dict(
            Response.objects.filter(pk__in=shown).values_list("pk", "text")
        )  # fmt: skip
        for number, span in enumerate(judgment.spans, start=1):
            if span.response not in lengths:
                raise ApplicationError(
                    f"spans[{number}]: response {span.response} is not in this item."
                )
            if span.end > len(lengths[span.response]):
                raise ApplicationError(f"spans[{number}]: end is past the end of the response.")
            if categories and span.category not in categories:
                raise ApplicationError(
                    f"spans[{number}]: category must be one of {', '.join(sorted(categories))}."
                )


def label_submit(*, assignment: Assignment, user: User, judgment: Judgment) -> Submitted:
    """Record one judgment and close the assignment.

    Idempotent: a repeated key (double press, network retry) returns the first label
    and changes nothing. A judgment on an item reopened by undo supersedes the earlier
    label, which stays in the history.
    """
    # Looked up by its id, a missing assignment is an error rather than None.
    return cast(Submitted, _label_submit_safely(user, judgment, assignment_id=assignment.pk))


def label_submit_leased(*, comparison_id: int, user: User, judgment: Judgment) -> Submitted | None:
    """`label_submit` on the person's assignment of this comparison, found, checked and
    locked in one statement (the API's path). None, with nothing changed, when they hold
    none or their role in its project may not annotate: the caller says which."""
    return _label_submit_safely(user, judgment, comparison_id=comparison_id)


def _label_submit_safely(user: User, judgment: Judgment, **lookup: int) -> Submitted | None:
    try:
        return _label_submit(user, judgment, **lookup)
    except IntegrityError:
        # Only a key sent at the same moment for another item gets here: the checks under
        # the lock below catch every other repeat.
        raise ApplicationError("idempotency_key: already used for another judgment.") from None


def _fits(judgment: Judgment, assignment: Assignment, rubric: RubricVersion | None) -> bool:
    try:
        _check(judgment, assignment, rubric)
    except ApplicationError:
        return False
    return True


@transaction.atomic
def _label_submit(
    user: User, judgment: Judgment, *, assignment_id: int | None = None,
    comparison_id: int | None = None,
) -> Submitted | None:  # fmt: skip
    found = queue_sql.assignment_lock(
        user_id=user.pk, assignment_id=assignment_id, comparison_id=comparison_id
    )
    if comparison_id is not None and (
        found is None or not role_can(found.role, Capability.ANNOTATE)
    ):
        return None
    if found is None:
        raise ApplicationError("This item is not assigned to you.")
    assignment = found.assignment
    if assignment.status == Assignment.Status.LEASED:
        # The usual case: no label yet with this key nor on this item. The insert checks
        # that in its own statement, after the lock as the query below does; when one
        # stands, or the judgment does not fit, the full path below decides.
        rubric = rubric_version_in_force(assignment.project)
        if _fits(judgment, assignment, rubric):
            now = timezone.now()
            label = _label_new(judgment, assignment, user, rubric, previous=None, now=now)
            if queue_sql.label_record(label=label, finished_at=now, counts=True, only_first=True):
                return _labelled(label, assignment, user, now, found.has_retrain_rule)
    # After the lock, so that a concurrent double submit sees the first one's label. One
    # query finds both a label with this key and the judgment an undo reopened.
    previous = None
    standing = queue_sql.labels_standing(
        idempotency_key=judgment.idempotency_key, assignment_id=assignment.pk
    )
    for label in Label.objects.filter(pk__in=standing) if standing else ():
        if label.idempotency_key == judgment.idempotency_key:
            if label.annotator_id != user.pk or label.assignment_id != assignment.pk:
                raise ApplicationError("idempotency_key: already used for another judgment.")
            return Submitted(label, created=False)
        previous = label
    if assignment.status == Assignment.Status.SKIPPED:
        raise ApplicationError("You skipped this item; it cannot be labelled now.")
    if assignment.status == Assignment.Status.DONE:
        raise ApplicationError("You already labelled this item; undo it to change your judgment.")
    rubric = rubric_version_in_force(assignment.project)
    _check(judgment, assignment, rubric)
    now = timezone.now()
    label = _label_new(judgment, assignment, user, rubric, previous=previous, now=now)
    queue_sql.label_record(label=label, finished_at=now, counts=previous is None)
    return _labelled(label, assignment, user, now, found.has_retrain_rule)


def _label_new(
    judgment: Judgment, assignment: Assignment, user: User, rubric: RubricVersion | None,
    *, previous: Label | None, now: datetime,
) -> Label:  # fmt: skip
    """The label a fitting judgment makes, unsaved."""
    comparison = assignment.comparison
    seconds = judgment.seconds_spent
    if seconds is None:
        seconds = (now - assignment.leased_at).total_seconds()
    shown_order = ""
    if comparison.kind == Comparison.Kind.PAIR:
        shown_order = "ab" if assignment.display_order[0] == comparison.response_a_id else "ba"
    return Label(
        comparison=comparison,
        annotator=user,
        assignment=assignment,
        choice=judgment.choice.value if judgment.choice else "",
        strength=judgment.strength,
        ranking=judgment.ranking,
        ratings={str(pk): values for pk, values in judgment.ratings.items()},
        spans=[span.model_dump() for span in judgment.spans],
        rationale=judgment.rationale.strip(),
        shown_order=shown_order,
        seconds_spent=min(seconds, MAX_SECONDS),
        rubric_version=rubric,
        metadata={"display_order": assignment.display_order},
        idempotency_key=judgment.idempotency_key,
        supersedes=previous,
    )


def _labelled(
    label: Label, assignment: Assignment, user: User, now: datetime, has_retrain_rule: bool
) -> Submitted:
    """After a label is recorded (its assignment closed): the gold rule, and the jobs that
    run once the transaction commits."""
    assignment.status = Assignment.Status.DONE
    assignment.finished_at = assignment.updated_at = now
    if assignment.comparison.is_gold:
        gold_check(project=assignment.project, user=user)
    project_id = assignment.project_id
    if has_retrain_rule:
        # The project's "retrain after N new labels" rule, checked by a worker once this
        # commits. Projects without a rule send nothing.
        from workers.tasks.reward_models import retrain_if_due

        transaction.on_commit(lambda: retrain_if_due.delay(project_id=project_id))
    agreement_request(project_id=project_id)
    return Submitted(label, created=True)


@transaction.atomic
def label_undo(*, project: Project, user: User, now: datetime | None = None) -> Assignment:
    """Reopen the item of this person's last judgment, if it is recent enough.

    Nothing is deleted: the judgment stays until a new one supersedes it.
    """
    now = now or timezone.now()
    last = label_undoable(project=project, user=user, now=now)
    if last is None:
        raise ApplicationError("There is no recent judgment to undo.")
    assignment = _assignment_locked(last.assignment_id, user)  # type: ignore[arg-type]
    # Checked again under the lock: a concurrent undo may have reopened it meanwhile.
    if assignment.status != Assignment.Status.DONE:
        raise ApplicationError("That item is already open again.")
    assignment.status = Assignment.Status.LEASED
    assignment.leased_at = now
    assignment.expires_at = now + timedelta(minutes=project.settings.lease_minutes)
    assignment.finished_at = None
    assignment.save(
        update_fields=["status", "leased_at", "expires_at", "finished_at", "updated_at"]
    )
    return assignment
