from __future__ import annotations

import json
import os
import signal
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Connection

from apps.accounts.models import Project, Role
from apps.annotation.models import AgreementReport, Comparison, Label
from apps.annotation.reports import (
    agreement_enqueue,
    agreement_refresh,
    annotator_reports_compute,
    request_mark_life,
)
from apps.annotation.review import (
    agreement_compute,
    comparison_mark_gold,
    consensus_of_others_compute,
    review_decide,
)
from apps.prompts.models import Prompt, Response
from tests.annotation.test_review import judge, people
from tests.annotation.test_services import configure
from tests.conftest import celery_worker_start, celery_worker_stop, wait_for
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

LONG, SHORT = "A long answer, with details.", "Short."


def long_first_pairs(project: Project, n: int) -> list[int]:
    """`n` pairs whose response a (the lower id) is the longer one."""
    configure(project, overlap=2)
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, input=f"Q{i}?", content_hash=f"{project.pk}-q{i}") for i in range(n)
    )
    for prompt in prompts:
        Response.objects.create(prompt=prompt, text=LONG, content_hash=f"{prompt.pk}-long")
        Response.objects.create(prompt=prompt, text=SHORT, content_hash=f"{prompt.pk}-short")
    from apps.annotation.services import comparisons_generate

    comparisons_generate(project=project)
    return list(Comparison.objects.filter(project=project).values_list("pk", flat=True))


def queued_jobs(task: str = "workers.tasks.quality.refresh_agreement") -> int:
    """Messages for `task` waiting on the default queue (other tasks share that queue:
    each label also asks whether the project's retrain rule is due)."""
    with Connection(settings.CELERY_BROKER_URL) as broker:
        messages = broker.default_channel.client.lrange("default", 0, -1)
    return sum(json.loads(message)["headers"]["task"] == task for message in messages)


def purge_jobs() -> None:
    with Connection(settings.CELERY_BROKER_URL) as broker:
        broker.default_channel.queue_purge("default")


@pytest.mark.django_db
def test_annotator_reports_compare_each_person_with_the_team(project):  # type: ignore[no-untyped-def]
    one, two = people(project, 2)
    items = long_first_pairs(project, 12)
    judge(project, one, dict.fromkeys(items[:10], "a") | {items[10]: "tie", items[11]: "both_bad"},
          seconds_spent=4)  # fmt: skip
    judge(project, two, dict.fromkeys(items[:5], "a") | dict.fromkeys(items[5:10], "b")
          | {items[10]: "tie", items[11]: "tie"}, seconds_spent=20)  # fmt: skip
    # Everyone saw response a on the left: "a" is a left choice.
    Label.objects.update(shown_order="ab")
    for pk in (items[0], items[5]):
        comparison_mark_gold(comparison=Comparison.objects.get(pk=pk), gold_choice="a")

    reports = annotator_reports_compute(project=project)

    today = timezone.localdate().isoformat()
    first, second = reports["people"]
    assert (first["username"], second["username"]) == (one.username, two.username)
    assert first["labels"] == 12
    assert first["per_day"] == [{"day": today, "labels": 12}]
    assert (first["median_seconds"], second["median_seconds"]) == (4, 20)
    # Leave-one-out: each is compared with the other, who agrees on items 0-4 and 10.
    assert first["consensus"] == {"count": 6, "n": 12, "share": 0.5, "skipped": 0}
    assert second["consensus"] == {"count": 6, "n": 12, "share": 0.5, "skipped": 0}
    assert first["gold"] == {"count": 2, "n": 2, "share": 1.0}
    assert second["gold"] == {"count": 1, "n": 2, "share": 0.5}
    assert second["gold_by_day"] == [{"day": today, "correct": 1, "total": 2, "running": 0.5}]
    assert (first["tie"]["count"], first["both_bad"]["count"]) == (1, 1)
    assert (second["tie"]["count"], second["both_bad"]["count"]) == (2, 0)
    assert first["longer"] == {"count": 10, "n": 10, "share": 1.0}
    assert second["longer"] == {"count": 5, "n": 10, "share": 0.5}
    assert (first["position"]["left"], first["position"]["n"]) == (10, 10)
    assert first["position"]["p_value"] == pytest.approx(2 / 1024)
    assert (second["position"]["share"], second["position"]["p_value"]) == (0.5, 1.0)
    assert first["flags"] == [
        "share choosing the longer response 100% vs team 50%",
        "left response chosen 100% (p=0.002)",
        "median 4s per item vs team 20s",
    ]
    assert second["flags"] == [
        "share choosing the longer response 50% vs team 100%",
        "median 20s per item vs team 4s",
    ]
    team = reports["team"]
    assert (team["labels"], team["median_seconds"]) == (24, 12)
    assert team["longer"] == {"count": 15, "n": 20, "share": 0.75}
    assert team["tie"] == {"count": 3, "n": 24, "share": 0.125}
    assert team["consensus"] == {"count": 12, "n": 24, "share": 0.5, "skipped": 0}


@pytest.mark.django_db
@pytest.mark.parametrize("rule", ["majority", "dawid_skene"])
def test_agreement_with_consensus_leaves_the_annotators_own_label_out(project, rule):  # type: ignore[no-untyped-def]
    """Two annotators who agree no more than chance (κ 0) once both showed 100%: with two
    voters, the consensus was each one's own vote wherever they agreed, and no consensus
    (skipped) wherever they did not."""
    configure(project, consensus=rule)
    one, two = people(project, 2)
    items = long_first_pairs(project, 22)
    alone = items[20:]  # one alone judges these: nobody to compare with
    Comparison.objects.filter(pk__in=alone).update(labels_wanted=1)
    judge(project, one, dict.fromkeys(items[:10], "a") | dict.fromkeys(items[10:20], "b")
          | dict.fromkeys(alone, "a"))  # fmt: skip
    judge(project, two, {item: "ab"[number % 2] for number, item in enumerate(items[:20])})
    assert Label.objects.filter(annotator=two).count() == 20

    kappa = agreement_compute(project=project)["kappa"]
    reports = annotator_reports_compute(project=project)

    assert [(pair["value"], pair["n_items"]) for pair in kappa] == [(0.0, 20)]
    first, second = reports["people"]
    assert first["consensus"] == {"count": 10, "n": 20, "share": 0.5, "skipped": 2}
    assert second["consensus"] == {"count": 10, "n": 20, "share": 0.5, "skipped": 0}
    assert reports["team"]["consensus"] == {"count": 20, "n": 40, "share": 0.5, "skipped": 2}


@pytest.mark.django_db
def test_the_crowd_an_annotator_is_compared_with_never_holds_their_own_vote(project):  # type: ignore[no-untyped-def]
    """Three voters: each is compared with the other two; a split pair is skipped; a
    reviewer's decision stands, except against the reviewer's own label."""
    configure(project, overlap=3)
    one, two, three = people(project, 3)
    items = long_first_pairs(project, 4)
    Comparison.objects.update(labels_wanted=3)
    agree, lone_b, split, reviewed = items
    judge(project, one, {agree: "a", lone_b: "a", split: "a", reviewed: "a"})
    judge(project, two, {agree: "a", lone_b: "a", split: "b", reviewed: "a"})
    judge(project, three, {agree: "a", lone_b: "b", split: "tie", reviewed: "b"})
    review_decide(comparison=Comparison.objects.get(pk=reviewed), reviewer=three, choice="b")

    crowd = consensus_of_others_compute(project=project)
    reports = {p["username"]: p for p in annotator_reports_compute(project=project)["people"]}

    assert {key: c.choice for key, c in crowd.items() if key[0] == lone_b} == {
        (lone_b, one.pk): None, (lone_b, two.pk): None, (lone_b, three.pk): "a",
    }  # fmt: skip
    # Against three's own decision, three meets the vote of one and two: "a".
    assert {voter: crowd[(reviewed, voter)].choice for voter in (one.pk, two.pk, three.pk)} == {
        one.pk: "b", two.pk: "b", three.pk: "a",
    }  # fmt: skip
    assert crowd[(reviewed, one.pk)].rule == "review"
    assert crowd[(reviewed, three.pk)].rule == "majority"
    # one: agree ✓, lone_b (a vs a/b: none), split (b/tie: none), reviewed (a vs b) ✗.
    assert reports[one.username]["consensus"] == {"count": 1, "n": 2, "share": 0.5, "skipped": 2}
    assert reports[two.username]["consensus"] == {"count": 1, "n": 2, "share": 0.5, "skipped": 2}
    # three: agree ✓, lone_b (b vs a) ✗, split (a/b: none), reviewed (b vs a) ✗.
    assert reports[three.username]["consensus"] == {
        "count": 1, "n": 3, "share": 1 / 3, "skipped": 1,
    }  # fmt: skip


@pytest.mark.django_db
def test_a_median_under_a_second_per_item_is_flagged_whatever_the_team_does(project):  # type: ignore[no-untyped-def]
    """Both annotators click through at 0.4 s: neither is far from the other, so the flag
    relative to the team alone never fired."""
    one, two = people(project, 2)
    items = long_first_pairs(project, 10)
    judge(project, one, dict.fromkeys(items, "a"), seconds_spent=0.4)
    judge(project, two, dict.fromkeys(items, "a"), seconds_spent=0.5)

    first, second = annotator_reports_compute(project=project)["people"]

    assert first["flags"] == ["median 0.4s per item, under 1s (team 0.5s)"]
    assert second["flags"] == ["median 0.5s per item, under 1s (team 0.4s)"]


@pytest.mark.django_db
def test_a_lone_annotator_under_the_floor_is_flagged_and_one_at_it_is_not(project):  # type: ignore[no-untyped-def]
    other = ProjectFactory()
    for where, seconds in ((project, 0.9), (other, 1.0)):
        (person,) = people(where, 1)
        judge(where, person, dict.fromkeys(long_first_pairs(where, 10), "a"), seconds_spent=seconds)

    flags = [
        [person["flags"] for person in annotator_reports_compute(project=where)["people"]]
        for where in (project, other)
    ]

    assert flags == [[["median 0.9s per item, under 1s"]], [[]]]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_labels_queues_one_recompute(project):  # type: ignore[no-untyped-def]
    purge_jobs()
    one, two = people(project, 2)
    items = long_first_pairs(project, 3)

    judge(project, one, dict.fromkeys(items, "a"))
    judge(project, two, dict.fromkeys(items, "b"))

    try:
        assert queued_jobs() == 1
        report = AgreementReport.objects.get(project=project)
        assert report.requested_at is not None
        assert report.computed_at is None
    finally:
        purge_jobs()


@pytest.mark.django_db(transaction=True)
def test_labels_while_a_recompute_is_queued_read_no_table(  # type: ignore[no-untyped-def]
    project, django_assert_num_queries
):
    purge_jobs()
    try:
        assert agreement_enqueue(project_id=project.pk) is True

        with django_assert_num_queries(0):  # the cache says a job is queued
            sent = [agreement_enqueue(project_id=project.pk) for _ in range(3)]

        assert sent == [False, False, False]
        assert queued_jobs() == 1
        assert AgreementReport.objects.get(project=project).requested_at is not None
    finally:
        purge_jobs()


@pytest.mark.django_db(transaction=True)
def test_a_recompute_that_starts_lets_the_next_label_queue_another(project):  # type: ignore[no-untyped-def]
    purge_jobs()
    try:
        assert agreement_enqueue(project_id=project.pk) is True
        agreement_refresh(project_id=project.pk)  # what the queued job does

        assert agreement_enqueue(project_id=project.pk) is True
        assert queued_jobs() == 2
    finally:
        purge_jobs()


@pytest.mark.django_db(transaction=True)
def test_without_the_cache_the_table_still_debounces(project, settings, caplog):  # type: ignore[no-untyped-def]
    purge_jobs()
    settings.CACHES = {  # nothing listens there
        "default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    try:
        assert agreement_enqueue(project_id=project.pk) is True
        assert agreement_enqueue(project_id=project.pk) is False
        assert queued_jobs() == 1
        assert "cache unavailable" in caplog.text
        # The job itself still recomputes (and clears the request) with the cache down.
        assert agreement_refresh(project_id=project.pk) is not None
        assert AgreementReport.objects.get(project=project).requested_at is None
    finally:
        purge_jobs()


def test_the_worker_recomputes_agreement_after_new_labels(celery_worker_process, settings):  # type: ignore[no-untyped-def]
    settings.AGREEMENT_DEBOUNCE_SECONDS = 1
    project = ProjectFactory()
    one, two = people(project, 2)
    items = long_first_pairs(project, 4)

    judge(project, one, dict.fromkeys(items, "a"))
    judge(project, two, dict.fromkeys(items[:3], "a") | {items[3]: "b"})

    def computed(labels: int) -> AgreementReport | None:
        report = AgreementReport.objects.filter(project=project).first()
        done = report and report.requested_at is None and report.figures.get("labels") == labels
        return report if done else None

    report = wait_for(lambda: computed(8), timeout=60)
    assert report.figures["choice"]["raw"]["value"] == 0.75
    assert report.figures["choice"]["raw"]["n_items"] == 4
    assert [p["labels"] for p in report.annotators["people"]] == [4, 4]
    assert report.figures["annotator_names"] == {str(one.pk): one.username,
                                                 str(two.pk): two.username}  # fmt: skip
    first_computed = report.computed_at

    three = UserFactory(username="third")
    MembershipFactory(project=project, user=three, role=Role.ANNOTATOR)
    configure(project, overlap=3)
    Comparison.objects.filter(project=project).update(labels_wanted=3)
    judge(project, three, dict.fromkeys(items, "a"))

    report = wait_for(lambda: computed(12), timeout=60)
    assert report.computed_at > first_computed
    # Pairs agreeing: three items 3/3, the last 1/3 → 10/12.
    assert report.figures["choice"]["raw"]["value"] == pytest.approx(10 / 12)


@pytest.mark.django_db
def test_refreshing_a_deleted_project_does_nothing(project):  # type: ignore[no-untyped-def]
    pk = project.pk
    project.delete()

    assert agreement_refresh(project_id=pk) is None
    assert AgreementReport.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_request_mark_stops_blocking_when_its_message_can_no_longer_come_back(  # type: ignore[no-untyped-def]
    project, settings
):
    settings.AGREEMENT_DEBOUNCE_SECONDS = 10
    settings.CELERY_VISIBILITY_TIMEOUT_SECONDS = 60
    settings.CELERY_RESTORE_INTERVAL_SECONDS = 6
    purge_jobs()
    try:
        assert request_mark_life() == timedelta(seconds=76)
        report = AgreementReport.objects.create(project=project)
        # Within its life (the job may still be redelivered) the mark blocks new requests.
        AgreementReport.objects.filter(pk=report.pk).update(
            requested_at=timezone.now() - timedelta(seconds=70)
        )
        assert agreement_enqueue(project_id=project.pk) is False
        assert queued_jobs() == 0
        # Past it, the job is done or lost with its worker: a new request sends another.
        AgreementReport.objects.filter(pk=report.pk).update(
            requested_at=timezone.now() - timedelta(seconds=77)
        )
        assert agreement_enqueue(project_id=project.pk) is True
        assert queued_jobs() == 1
    finally:
        purge_jobs()


def _unacked_tasks() -> list[str]:
    """Tasks that a worker took from Redis and has not acknowledged yet."""
    with Connection(settings.CELERY_BROKER_URL) as broker:
        held = broker.default_channel.client.hvals("unacked")
    return [json.loads(message)[0]["headers"]["task"] for message in held]


@pytest.mark.django_db(transaction=True)
def test_a_recompute_held_by_a_killed_worker_is_redelivered_after_the_visibility_timeout(  # type: ignore[no-untyped-def]
    settings,
):
    """kill -9 of the worker that holds the job: another worker runs it within
    CELERY_VISIBILITY_TIMEOUT_SECONDS + CELERY_RESTORE_INTERVAL_SECONDS (it waited an hour,
    kombu's default, before the timeout was set)."""
    timeouts = {"AGREEMENT_DEBOUNCE_SECONDS": "3", "CELERY_VISIBILITY_TIMEOUT_SECONDS": "6"}
    settings.AGREEMENT_DEBOUNCE_SECONDS = 3
    with Connection(settings.CELERY_BROKER_URL) as broker:
        broker.default_channel.client.delete("unacked", "unacked_index")
    first = celery_worker_start(extra_env=timeouts)
    second = None
    try:
        project = ProjectFactory()
        one, two = people(project, 2)
        items = long_first_pairs(project, 2)
        judge(project, one, dict.fromkeys(items, "a"))
        judge(project, two, dict.fromkeys(items, "a"))
        # The worker holds the job through its 3 s countdown: kill it then.
        wait_for(lambda: "workers.tasks.quality.refresh_agreement" in _unacked_tasks(),
                 timeout=10, interval=0.05)  # fmt: skip
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert AgreementReport.objects.get(project=project).computed_at is None

        second = celery_worker_start(extra_env=timeouts, purge=False)
        started = timezone.now()

        def computed() -> AgreementReport | None:
            report = AgreementReport.objects.get(project=project)
            return report if report.computed_at is not None else None

        report = wait_for(computed, timeout=6 + 1 + 15)
        assert report.figures["labels"] == 4
        assert report.requested_at is None
        assert report.computed_at - started < timedelta(seconds=6 + 1 + 15)
    finally:
        if first.poll() is None:
            first.kill()
        if second is not None:
            celery_worker_stop(second)
