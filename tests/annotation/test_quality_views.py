from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.annotation.models import AgreementReport, AnnotatorStatus, Comparison, ReviewDecision
from apps.annotation.reports import agreement_refresh
from apps.annotation.review import review_queue
from tests.annotation.test_reports import long_first_pairs, purge_jobs, queued_jobs
from tests.annotation.test_review import people
from tests.annotation.test_services import configure
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_quality_page_shows_the_stored_figures_and_their_age(project, designer, judged):  # type: ignore[no-untyped-def]
    agreement_refresh(project_id=project.pk)

    response = client_for(designer).get(f"/projects/{project.slug}/quality/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Computed" in html
    assert "on 8 labels from 2 annotators" in html
    assert "Choice: raw agreement" in html
    assert html.count("<canvas data-chart=") == 3  # summary, κ heat map, groups
    assert "Group easy (2 items)" in html
    # Raw agreement: 2 of 4 pairs agree.
    assert '<td class="num">0.500</td>' in html
    assert "Recompute now" in html


def test_the_quality_page_says_when_nothing_is_computed(project, viewer):  # type: ignore[no-untyped-def]
    response = client_for(viewer).get(f"/projects/{project.slug}/quality/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Not computed yet." in html
    assert "Recompute now" not in html  # viewers cannot


def test_recompute_now_queues_one_job_at_once(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    purge_jobs()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(designer).post(f"/projects/{project.slug}/quality/recompute/")
        assert response.status_code == 302
        assert AgreementReport.objects.get(project=project).requested_at is not None
        assert queued_jobs() == 1
        status = client_for(designer).get(f"/projects/{project.slug}/quality/status/")
        assert "A recompute is queued" in status.content.decode()
        assert 'hx-trigger="every 2s"' in status.content.decode()
    finally:
        purge_jobs()


def test_the_status_poll_reloads_the_page_once_computed(project, designer, judged):  # type: ignore[no-untyped-def]
    agreement_refresh(project_id=project.pk)

    response = client_for(designer).get(
        f"/projects/{project.slug}/quality/status/", HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_annotator_reports_show_everyone_to_designers_and_self_to_annotators(
    project, designer, judged
):  # type: ignore[no-untyped-def]
    (one, two), _ = judged
    agreement_refresh(project_id=project.pk)

    listing = client_for(designer).get(f"/projects/{project.slug}/quality/annotators/")
    own = client_for(one).get(f"/projects/{project.slug}/quality/annotators/{one.pk}/")
    other = client_for(one).get(f"/projects/{project.slug}/quality/annotators/{two.pk}/")

    assert listing.status_code == 200
    assert listing.content.decode().count("data-annotator=") == 2
    assert own.status_code == 200
    html = own.content.decode()
    assert "My quality report" in html
    assert "Labels per day" in html
    assert '<td class="num">100% (4/4)</td>' in html  # chose the longer response: all
    assert other.status_code == 403


def test_agreement_with_consensus_is_shown_against_the_others_with_what_it_skipped(
    project, designer, judged
):  # type: ignore[no-untyped-def]
    """The two annotators agree on 2 of 4 pairs: each agrees with the other (the consensus
    without their own label) on 2 of 4, not on 2 of 2."""
    (one, two), _ = judged
    agreement_refresh(project_id=project.pk)

    listing = client_for(designer).get(f"/projects/{project.slug}/quality/annotators/")
    report = client_for(designer).get(f"/projects/{project.slug}/quality/annotators/{one.pk}/")

    html = listing.content.decode()
    cell = '<td class="num" data-consensus>50% <span class="muted small">(2/4; 0 skipped)</span>'
    assert html.count(cell) == 2
    assert (
        '<tr data-figure="Agreement with the others&#x27; consensus"><td>Agreement with the '
        'others&#x27; consensus</td><td class="num">50% (2/4; 0 skipped)</td>'
        '<td class="num">50% (4/8; 0 skipped)</td></tr>'
    ) in report.content.decode()


def test_a_report_stored_before_leave_one_out_asks_for_a_recompute(project, designer, judged):  # type: ignore[no-untyped-def]
    (one, _), _ = judged
    agreement_refresh(project_id=project.pk)
    report = AgreementReport.objects.get(project=project)
    for figures in (report.annotators["team"], *report.annotators["people"]):
        figures["consensus"] = {"count": 2, "n": 2, "share": 1.0}  # the old, own-vote figure
    report.save(update_fields=["annotators"])

    listing = client_for(designer).get(f"/projects/{project.slug}/quality/annotators/")
    page = client_for(designer).get(f"/projects/{project.slug}/quality/annotators/{one.pk}/")

    assert listing.content.decode().count('<span class="muted small">recompute</span>') == 2
    assert "100%" not in listing.content.decode().split("data-consensus>")[1].split("</td>")[0]
    assert page.content.decode().count("computed before the leave-one-out rule: recompute") == 2


def test_an_admin_resumes_a_paused_queue_from_the_report(project, admin_user, designer):  # type: ignore[no-untyped-def]
    (one,) = people(project, 1)
    reason = "Gold accuracy 1/4 (25%) is below 70%."
    AnnotatorStatus.objects.create(
        project=project, user=one, paused_at="2026-01-01T00:00Z", pause_reason=reason
    )
    configure(project, gold_pause_below=0.7)
    path = f"/projects/{project.slug}/quality/annotators/{one.pk}/"

    page = client_for(one).get(path)
    workbench = client_for(one).get(f"/projects/{project.slug}/annotate/")
    refused = client_for(designer).post(path + "resume/")
    resumed = client_for(admin_user).post(path + "resume/")

    assert "Gold accuracy 1/4 (25%) is below 70%." in page.content.decode()
    assert workbench.status_code == 200
    assert "Your queue is paused" in workbench.content.decode()
    assert refused.status_code == 403
    assert resumed.status_code == 302
    status = AnnotatorStatus.objects.get(user=one)
    assert (status.paused_at, status.resumed_by) == (None, admin_user)


def test_the_review_page_lists_labels_side_by_side_escaped(project, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged

    listing = client_for(designer).get(f"/projects/{project.slug}/review/")
    page = client_for(designer).get(f"/projects/{project.slug}/review/{items[2]}/")

    assert [int(pk) for pk in _attr(listing, "data-review-item")] == items[2:]
    html = page.content.decode()
    assert html.count("data-label=") == 2
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; A is fuller" in html
    assert "<script>alert" not in html


def _attr(response, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    import re

    return re.findall(rf'{name}="([^"]*)"', response.content.decode())


def test_a_designer_records_the_final_judgment_and_moves_on(project, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    path = f"/projects/{project.slug}/review/{items[2]}/decide/"

    response = client_for(designer).post(path, {"choice": "b", "strength": "1", "note": "B"})

    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/review/{items[3]}/"
    decision = ReviewDecision.objects.get()
    assert (decision.comparison_id, decision.choice, decision.strength, decision.note) == (
        items[2], "b", 1, "B",
    )  # fmt: skip
    assert list(review_queue(project=project).values_list("pk", flat=True)) == [items[3]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"choice": "maybe"}, "Select a valid choice."),
        ({"choice": "tie", "strength": "1"}, "strength: goes with a or b"),
    ],
)
def test_a_bad_review_changes_nothing(project, designer, judged, data, message):  # type: ignore[no-untyped-def]
    _, items = judged

    response = client_for(designer).post(
        f"/projects/{project.slug}/review/{items[2]}/decide/", data
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert ReviewDecision.objects.count() == 0


def test_viewers_and_annotators_cannot_review(project, viewer, judged):  # type: ignore[no-untyped-def]
    (one, _), items = judged
    path = f"/projects/{project.slug}/review/{items[2]}/decide/"

    for user in (viewer, one):
        assert client_for(user).post(path, {"choice": "a"}).status_code == 403
        assert client_for(user).get(f"/projects/{project.slug}/review/").status_code == 403
    assert ReviewDecision.objects.count() == 0


def test_gold_is_marked_and_unmarked_on_the_page(project, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    path = f"/projects/{project.slug}/gold/mark/"
    client = client_for(designer)

    marked = client.post(path, {"comparison": items[0], "gold_choice": "a"})
    listing = client.get(f"/projects/{project.slug}/gold/")
    gold = Comparison.objects.get(pk=items[0])
    unmarked = client.post(path, {"comparison": items[0], "gold_choice": ""})

    assert marked.status_code == 302
    assert (gold.is_gold, gold.gold_choice) == (True, "a")
    assert _attr(listing, "data-gold") == [str(items[0])]
    assert "2 of 2" in listing.content.decode()  # both annotators chose a
    assert unmarked.status_code == 302
    gold.refresh_from_db()
    assert (gold.is_gold, gold.gold_choice) == (False, "")


def test_gold_marking_refuses_other_projects_and_bad_answers(project, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    elsewhere = ProjectFactory()
    MembershipFactory(project=elsewhere, user=UserFactory(), role=Role.ADMIN)
    (foreign,) = long_first_pairs(elsewhere, 1)
    path = f"/projects/{project.slug}/gold/mark/"

    other = client_for(designer).post(path, {"comparison": foreign, "gold_choice": "a"})
    bad = client_for(designer).post(path, {"comparison": items[0], "gold_choice": "left"})

    assert other.status_code == 400
    assert "No such comparison in this project." in other.content.decode()
    assert bad.status_code == 400
    assert "Select a valid choice." in bad.content.decode()
    assert Comparison.objects.filter(is_gold=True).count() == 0


def test_a_queued_recompute_says_when_no_worker_took_it(project, designer, judged):  # type: ignore[no-untyped-def]
    (one, _), _ = judged
    AgreementReport.objects.create(
        project=project, requested_at=timezone.now() - timedelta(minutes=5)
    )

    designer_page = client_for(designer).get(f"/projects/{project.slug}/quality/")
    own_report = client_for(one).get(f"/projects/{project.slug}/quality/annotators/{one.pk}/")

    html = designer_page.content.decode()
    assert "No worker has picked it up yet." in html
    assert f'hx-get="/projects/{project.slug}/quality/status/"' in html
    # An annotator may not read the agreement figures, so their page does not poll them.
    assert "No worker has picked it up yet." in own_report.content.decode()
    assert "/quality/status/" not in own_report.content.decode()


def test_figures_older_than_the_newest_label_are_marked_out_of_date(project, designer, judged):  # type: ignore[no-untyped-def]
    report = agreement_refresh(project_id=project.pk)
    url = f"/projects/{project.slug}/quality/"
    fresh = client_for(designer).get(url).content.decode()
    # The figures were computed an hour before the newest label (a lost recompute).
    computed_at = timezone.now() - timedelta(hours=1)
    AgreementReport.objects.filter(pk=report.pk).update(computed_at=computed_at)
    from apps.annotation.models import Label

    newest = Label.objects.filter(comparison__project=project).latest("created_at").created_at

    stale = client_for(designer).get(url).content.decode()

    assert "Out of date" not in fresh
    local = timezone.localtime
    assert (
        f"<strong>Out of date:</strong> figures computed at <time datetime="
        f'"{local(computed_at).isoformat()}">{local(computed_at):%Y-%m-%d %H:%M:%S}</time>, '
        f'older than the newest label (<time datetime="{local(newest).isoformat()}">'
        f"{local(newest):%Y-%m-%d %H:%M:%S}</time>)." in stale
    )
