"""Stored label-quality reports: agreement figures and one report per annotator.

A worker recomputes a project's `AgreementReport` after new labels (`agreement_request`
queues it when the label's transaction commits; labels arriving while one is queued share
it), and pages read the stored figures with the time they were computed.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.annotation import quality
from apps.annotation.models import AgreementReport, Comparison, Label
from apps.annotation.review import agreement_compute, consensus_of_others_compute, current_labels

logger = logging.getLogger(__name__)

# Below this many judgments a person's figures are shown but never flagged.
FLAG_MIN_ITEMS = 10
# A share is flagged when it is this far from the rest of the team's and the binomial
# test against the team's share gives a p-value below FLAG_P_VALUE.
FLAG_DISTANCE = 0.15
FLAG_P_VALUE = 0.01
# Median time per item is flagged below half or above twice the team's.
FLAG_TIME_RATIO = 2.0
# ...and below this many seconds whatever the team does: nobody reads two responses in
# under a second, and a team that is too fast as a whole is not far from its own median.
FLAG_MIN_MEDIAN_SECONDS = 1.0


# --- queueing ---------------------------------------------------------------------------


def request_mark_life() -> timedelta:
    """How long a request mark blocks new requests: as long as its message can live.

    The job runs after its countdown; if the worker holding it is killed, Redis gives it
    to another worker after the visibility timeout, found by the next sweep. Past that the
    message is either done or gone (no worker, a lost broker), and a new request sends
    another (recomputes are idempotent, so a late duplicate costs one computation).
    """
    return timedelta(
        seconds=settings.AGREEMENT_DEBOUNCE_SECONDS
        + settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
        + settings.CELERY_RESTORE_INTERVAL_SECONDS
    )


def agreement_request(*, project_id: int, force: bool = False) -> None:
    """Queue a recompute of the project's report once the current transaction commits.

    Debounced: while a recompute is queued (`requested_at` set) further requests add
    nothing, and the job waits AGREEMENT_DEBOUNCE_SECONDS so a burst of labels gives one
    recompute. `force` (the "recompute now" button) queues one to run at once.
    """
    # Robust: the labels are saved whatever happens here; a broker that is down leaves the
    # request mark, and the first label after `request_mark_life` queues the recompute again.
    transaction.on_commit(
        lambda: agreement_enqueue(project_id=project_id, force=force), robust=True
    )


def _queued_key(project_id: int) -> str:
    return f"agreement:queued:{project_id}"


def agreement_enqueue(*, project_id: int, force: bool = False) -> bool:
    """Mark the report requested and send the job, unless one is queued; True if sent.

    Runs outside the label's transaction, so concurrent labels never wait on this row.
    The sender also sets a cache key that the job deletes before it reads any label: a
    label that finds the key (after its commit) is read by that job, with no query here.
    The request mark in the table still decides everything else.
    """
    if not force and _cache_quietly(lambda: cache.get(_queued_key(project_id))):
        return False
    now = timezone.now()
    life = request_mark_life()
    rows = AgreementReport.objects.filter(project_id=project_id)
    if not force:
        rows = rows.filter(Q(requested_at__isnull=True) | Q(requested_at__lt=now - life))
    if rows.update(requested_at=now) == 0:
        if AgreementReport.objects.filter(project_id=project_id).exists():
            return False  # one is queued already
        try:
            with transaction.atomic():
                AgreementReport.objects.create(project_id=project_id, requested_at=now)
        except IntegrityError:
            return False  # a concurrent request created it and sent the job
    from workers.tasks.quality import refresh_agreement

    delay = 0 if force else settings.AGREEMENT_DEBOUNCE_SECONDS
    # Set before sending, so the job cannot delete it first. Like the request mark, it
    # stops counting when the message can no longer come back.
    timeout = int(life.total_seconds())
    _cache_quietly(lambda: cache.set(_queued_key(project_id), 1, timeout=timeout))
    refresh_agreement.apply_async(kwargs={"project_id": project_id}, countdown=delay)
    return True


def _cache_quietly(call: Callable[[], object]) -> object:
    """The cache only saves queries here: when it is down, the table decides."""
    try:
        return call()
    except Exception:
        logger.warning("cache unavailable for the agreement request key", exc_info=True)
        return None


def agreement_refresh(*, project_id: int) -> AgreementReport | None:
    """Recompute and store the project's figures and annotator reports (the worker's job).

    The request mark is cleared before reading labels, so a label committed meanwhile
    queues another recompute. A slower, older computation never overwrites a newer one.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    # The key first: a label committed after this sends another job.
    _cache_quietly(lambda: cache.delete(_queued_key(project_id)))
    AgreementReport.objects.filter(project=project).update(requested_at=None)
    started = timezone.now()
    clock = time.monotonic()
    figures = agreement_compute(project=project)
    figures["annotator_names"] = {
        str(pk): name
        for pk, name in User.objects.filter(
            pk__in=[int(pk) for pair in figures["kappa"] for pk in pair["annotators"]]
        ).values_list("pk", "username")
    }
    annotators = annotator_reports_compute(project=project)
    values = {
        "figures": figures,
        "annotators": annotators,
        "computed_at": started,
        "compute_seconds": round(time.monotonic() - clock, 3),
    }
    report, created = AgreementReport.objects.get_or_create(project=project, defaults=values)
    if not created:
        AgreementReport.objects.filter(
            Q(computed_at__isnull=True) | Q(computed_at__lte=started), pk=report.pk
        ).update(**values, updated_at=timezone.now())
        report.refresh_from_db()
    return report


def agreement_report_get(*, project: Project) -> AgreementReport | None:
    return AgreementReport.objects.filter(project=project).first()


# --- annotator reports ------------------------------------------------------------------


def _share(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "n": total, "share": count / total if total else None}


def _differs(count: int, total: int, team_share: float | None) -> bool:
    """Whether count/total is far from the team's share, and unlikely by chance."""
    if team_share is None or total < FLAG_MIN_ITEMS:
        return False
    if abs(count / total - team_share) < FLAG_DISTANCE:
        return False
    from scipy.stats import binomtest

    return binomtest(count, total, p=team_share).pvalue < FLAG_P_VALUE


def _time_flag(user_id: int, median: float | None, seconds: dict[int, list[float]]) -> str | None:
    """A median time per item under the absolute floor, or far from the rest of the team's."""
    if median is None or len(seconds[user_id]) < FLAG_MIN_ITEMS:
        return None
    others = [s for other, values in seconds.items() if other != user_id for s in values]
    team_median = statistics.median(others) if others else None
    if median < FLAG_MIN_MEDIAN_SECONDS:
        team = f" (team {team_median:.1f}s)" if team_median is not None else ""
        return f"median {median:.1f}s per item, under {FLAG_MIN_MEDIAN_SECONDS:g}s{team}"
    if team_median and not (
        team_median / FLAG_TIME_RATIO <= median <= team_median * FLAG_TIME_RATIO
    ):
        return f"median {median:.0f}s per item vs team {team_median:.0f}s"
    return None


_SHARES: dict[str, str] = {
    "consensus": "agreement with the consensus",
    "gold": "gold accuracy",
    "tie": "tie rate",
    "both_bad": "both-bad rate",
    "longer": "share choosing the longer response",
}


def annotator_reports_compute(*, project: Project) -> dict[str, Any]:
    """Per annotator (current labels they made), and the team's figures for comparison.

    Each person: labels per day, median seconds per item, agreement with the consensus
    formed without their own label (`review.consensus_of_others_compute`; `skipped` counts
    their judgments with no consensus left: nobody else judged the item, or the others
    split evenly), gold accuracy per day (and running), position bias (share of decisive
    choices that picked the left response, with the binomial test against 50%), tie and
    both-bad rates, the share of decisive choices that picked the longer response (pairs
    of equal length left out), and `flags`: the figures far from the rest of the team's,
    and a median time per item under FLAG_MIN_MEDIAN_SECONDS.
    """
    rows = list(
        current_labels(project=project)
        .filter(source=Label.Source.ANNOTATOR, annotator__isnull=False)
        .annotate(
            length_a=Length("comparison__response_a__text"),
            length_b=Length("comparison__response_b__text"),
        )
        .order_by("created_at", "pk")
        .values_list(
            "annotator_id",
            "annotator__username",
            "comparison_id",
            "comparison__kind",
            "choice",
            "shown_order",
            "seconds_spent",
            "created_at",
            "comparison__is_gold",
            "comparison__gold_choice",
            "length_a",
            "length_b",
        )  # fmt: skip
    )
    crowd = {
        key: c.choice if c else None
        for key, c in consensus_of_others_compute(project=project).items()
    }
    skipped: dict[int, int] = defaultdict(int)
    people: dict[int, dict[str, Any]] = {}
    counts: dict[int, dict[str, list[int]]] = defaultdict(
        lambda: {name: [0, 0] for name in (*_SHARES, "left")}
    )
    seconds: dict[int, list[float]] = defaultdict(list)
    per_day: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    gold_days: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    zone = timezone.get_current_timezone()  # read once: it is a context lookup per call
    for (user_id, username, comparison_id, kind, choice, shown_order, spent, created_at,
         is_gold, gold_choice, length_a, length_b) in rows:  # fmt: skip
        people.setdefault(user_id, {"user_id": user_id, "username": username})
        day = created_at.astimezone(zone).date().isoformat()
        per_day[user_id][day] += 1
        if spent is not None:
            seconds[user_id].append(spent)
        if kind != Comparison.Kind.PAIR or not choice:
            continue
        tally = counts[user_id]

        def count(name: str, hit: bool, tally: dict[str, list[int]] = tally) -> None:
            tally[name][0] += hit
            tally[name][1] += 1

        if (others := crowd.get((comparison_id, user_id))) is not None:
            count("consensus", choice == others)
        else:
            skipped[user_id] += 1
        if is_gold and gold_choice:
            count("gold", choice == gold_choice)
            gold_days[user_id][day][0] += choice == gold_choice
            gold_days[user_id][day][1] += 1
        count("tie", choice == Label.Choice.TIE)
        count("both_bad", choice == Label.Choice.BOTH_BAD)
        if choice in (Label.Choice.A, Label.Choice.B):
            if shown_order in ("ab", "ba"):
                count("left", choice == shown_order[0])
            if length_a != length_b:
                count("longer", (choice == Label.Choice.A) == (length_a > length_b))
    team_counts = {name: [0, 0] for name in (*_SHARES, "left")}
    for tally in counts.values():
        for name, (hit, total) in tally.items():
            team_counts[name][0] += hit
            team_counts[name][1] += total
    all_seconds = [s for values in seconds.values() for s in values]
    reports = []
    for user_id, person in people.items():
        tally = counts[user_id]
        bias = quality.position_bias(*tally["left"])
        median = statistics.median(seconds[user_id]) if seconds[user_id] else None
        running = [0, 0]
        gold_by_day = []
        for day, (correct, total) in sorted(gold_days[user_id].items()):
            running = [running[0] + correct, running[1] + total]
            gold_by_day.append({"day": day, "correct": correct, "total": total,
                                "running": running[0] / running[1]})  # fmt: skip
        report = {
            **person,
            "labels": sum(per_day[user_id].values()),
            "per_day": [{"day": d, "labels": n} for d, n in sorted(per_day[user_id].items())],
            "median_seconds": median,
            **{name: _share(*tally[name]) for name in _SHARES},
            "consensus": {**_share(*tally["consensus"]), "skipped": skipped[user_id]},
            "gold_by_day": gold_by_day,
            "position": {
                "left": tally["left"][0],
                "n": bias.n,
                "share": bias.share,
                "p_value": bias.p_value,
            },  # fmt: skip
            "flags": [],
        }
        flags: list[str] = report["flags"]
        for name, words in _SHARES.items():
            hit, total = tally[name]
            rest_hit, rest_total = team_counts[name][0] - hit, team_counts[name][1] - total
            rest = rest_hit / rest_total if rest_total else None
            if _differs(hit, total, rest):
                flags.append(f"{words} {hit / total:.0%} vs team {rest:.0%}")
        if bias.n >= FLAG_MIN_ITEMS and bias.p_value is not None and bias.p_value < FLAG_P_VALUE:
            flags.append(f"left response chosen {bias.share:.0%} (p={bias.p_value:.2g})")
        if (time_flag := _time_flag(user_id, median, seconds)) is not None:
            flags.append(time_flag)
        reports.append(report)
    reports.sort(key=lambda r: r["username"])
    team_bias = quality.position_bias(*team_counts["left"])
    team = {
        "labels": len(rows),
        "median_seconds": statistics.median(all_seconds) if all_seconds else None,
        **{name: _share(*team_counts[name]) for name in _SHARES},
        "consensus": {**_share(*team_counts["consensus"]), "skipped": sum(skipped.values())},
        "position": {
            "left": team_counts["left"][0],
            "n": team_bias.n,
            "share": team_bias.share,
            "p_value": team_bias.p_value,
        },  # fmt: skip
    }
    return {"team": team, "people": reports}


def annotator_report_of(report: AgreementReport | None, user_id: int) -> dict[str, Any] | None:
    """One person's stored report, or None when they had no labels at the last compute."""
    if report is None:
        return None
    people: list[dict[str, Any]] = report.annotators.get("people", [])
    return next((person for person in people if person["user_id"] == user_id), None)
