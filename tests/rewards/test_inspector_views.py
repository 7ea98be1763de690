"""Inspector pages: what each role sees and may do, escaped model output, live progress."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.prompts.models import Response
from apps.rewards.models import Inspection, RewardFunctionVersion
from tests.rewards.factories import version_of
from tests.rewards.inspection_world import POLITE_SPEC, build, inspect_now

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_index_lists_functions_and_versions_with_their_last_inspection(
    project, designer
) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    inspect_now(world.version, designer)

    response = client_for(designer).get(f"/projects/{project.slug}/inspector/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cites and manners" in html
    assert f'href="/projects/{project.slug}/inspector/versions/{world.version.pk}/"' in html
    assert "status-succeeded" in html


def test_a_designer_starts_an_inspection_and_a_viewer_cannot(  # type: ignore[no-untyped-def]
    project, designer, viewer, django_capture_on_commit_callbacks
) -> None:
    world = build(project, designer)
    url = f"/projects/{project.slug}/inspector/versions/{world.version.pk}/"

    page = client_for(viewer).get(url).content.decode()
    assert "Inspect this version" not in page
    assert "has not been inspected yet" in page
    with django_capture_on_commit_callbacks(execute=False):
        denied = client_for(viewer).post(url + "inspect/")
    assert denied.status_code == 403
    assert Inspection.objects.count() == 0

    assert "Inspect this version" in client_for(designer).get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = client_for(designer).post(url + "inspect/")
    assert started.status_code == 302
    assert started["Location"] == url
    inspection = Inspection.objects.get()
    assert (inspection.version, inspection.status, inspection.created_by) == (
        world.version, Inspection.Status.QUEUED, designer)  # fmt: skip
    assert len(callbacks) == 1
    running = client_for(designer).get(url).content.decode()
    assert (
        f'hx-get="/projects/{project.slug}/inspector/inspections/{inspection.pk}/progress/"'
        in running
    )
    assert 'aria-label="Inspection progress"' in running


def test_progress_polls_until_the_job_is_done_then_shows_the_panels(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)
    queued = Inspection.objects.create(version=world.version, project=project)
    client = client_for(designer)

    polling = client.get(f"/projects/{project.slug}/inspector/inspections/{queued.pk}/progress/")
    assert polling.status_code == 200
    assert "every 1s" in polling.content.decode()
    # The earlier result stays on screen while the recompute runs, drawn without animation.
    assert "data-chart-static" in polling.content.decode()

    queued.delete()
    finished = client.get(f"/projects/{project.slug}/inspector/inspections/{done.pk}/progress/")
    assert finished.status_code == 286
    html = finished.content.decode()
    assert "every 1s" not in html
    assert "71.4%" in html  # 5 of 7
    assert "data-chart-static" not in html


def test_the_panels_show_the_numbers_and_escape_model_output(project, designer, viewer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    # The pair the reward gets wrong: make the people's choice hostile markup.
    Response.objects.filter(pk=world.responses[2].pk).update(text="<img src=x onerror=alert(1)>")
    inspect_now(world.version, designer)

    html = (
        client_for(viewer)
        .get(f"/projects/{project.slug}/inspector/versions/{world.version.pk}/")
        .content.decode()
    )

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "71.4%" in html  # pairwise accuracy, 5 of 7
    assert "50.0%" in html  # the human ceiling, 1 of 2
    assert (
        f'href="/projects/{project.slug}/prompts/{world.responses[2].prompt_id}/#response-{world.responses[2].pk}"'
        in html
    )
    charts = (
        "Pairwise accuracy with 95% intervals",
        "Heat map of correlations",
        "Histogram of the total reward",
        "Share of responses whose reward each probe",
    )
    for chart in charts:
        assert chart in html
    assert "This reward can be gamed by" in html
    # Viewers read; they do not get the buttons that change things.
    assert "Save as a new version with these weights" not in html
    assert "Recompute" not in html


def test_the_worst_pairs_show_responses_as_rendered_markdown(project, designer, viewer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    Response.objects.filter(pk=world.responses[2].pk).update(
        text="**Sure** [x](javascript:alert(1))\n\n```python\nx = 1\n```"
    )
    inspect_now(world.version, designer)

    html = (
        client_for(viewer)
        .get(f"/projects/{project.slug}/inspector/versions/{world.version.pk}/")
        .content.decode()
    )

    assert (
        '<div class="prose model-text response-text" data-format="markdown">'
        '<p><strong><span data-o="2">Sure</span></strong>'
        '<span data-o="8"> [x](javascript:alert(1))</span></p>\n'
        '<pre><code class="language-python" data-o="45">x = 1\n</code></pre>\n</div>'
    ) in html
    assert "model-text.js" in html


def test_a_designer_accepts_fitted_weights_and_a_viewer_cannot(project, designer, viewer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)
    url = f"/projects/{project.slug}/inspector/inspections/{done.pk}/accept-weights/"

    assert client_for(viewer).post(url).status_code == 403
    assert RewardFunctionVersion.objects.filter(function=world.version.function).count() == 1

    client = client_for(designer)
    response = client.post(url)

    new = RewardFunctionVersion.objects.get(function=world.version.function, number=2)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/inspector/versions/{new.pk}/"
    assert new.spec["combine"]["weights"] == done.result["fit"]["weights"]
    page = client.get(response["Location"]).content.decode()
    assert "Saved the fitted weights as cites and manners v2" in page


def test_the_compare_page_shows_both_versions_the_distance_and_the_flips(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    polite = version_of(project, POLITE_SPEC, name="manners only")
    inspect_now(world.version, designer)
    inspect_now(polite, designer)

    response = client_for(designer).get(
        f"/projects/{project.slug}/inspector/compare/?first={world.version.pk}&second={polite.pk}"
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd id="starc-distance">1.56</dd>' in html
    assert '<dd id="flipped-count">2</dd>' in html
    assert '<dd id="flip-agreement">1 – 0</dd>' in html
    assert "cites and manners v1" in html
    assert "manners only v1" in html
    assert html.count("Pairwise accuracy with 95% intervals") == 2


def test_versions_of_other_projects_are_not_found(project, designer) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    other = version_of(ProjectFactory(), POLITE_SPEC)
    client = client_for(designer)

    assert client.get(f"/projects/{project.slug}/inspector/versions/{other.pk}/").status_code == 404
    assert (
        client.get(f"/projects/{project.slug}/inspector/compare/?first={other.pk}").status_code
        == 404
    )
    assert client.get(f"/projects/{project.slug}/inspector/compare/?first=x").status_code == 404
