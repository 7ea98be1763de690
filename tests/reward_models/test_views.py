"""The reward-model pages: registry, runs with Retrain, one run polled live, cancel, promote."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.reward_models.models import RewardModel, TrainingRun
from apps.reward_models.services import (
    reward_model_promote,
    training_run_claim,
    training_run_create,
    training_run_execute,
)
from tests.reward_models.factories import preference_project
from workers.ml.training import train_reward_model
from workers.training.settings import TrainingSettings

pytestmark = pytest.mark.django_db

FAST = TrainingSettings(head_kind="linear", epochs=30, learning_rate=0.05, validation_fraction=0.3)


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _queued(project, user=None) -> TrainingRun:  # type: ignore[no-untyped-def]
    return training_run_create(project=project, user=user, settings=FAST, enqueue=False)


def _trained(project, settings=FAST) -> TrainingRun:  # type: ignore[no-untyped-def]
    run = training_run_create(project=project, user=None, settings=settings, enqueue=False)
    claimed = training_run_claim(run_id=run.pk, worker="w")
    assert claimed is not None
    return training_run_execute(run=claimed, train=train_reward_model)


def test_retrain_with_settings_starts_a_run_and_opens_its_page(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _client(designer).post(
            f"/projects/{project.slug}/training-runs/new/",
            {"head_kind": "linear", "epochs": "12", "ties": "half", "use_margin": "true"},
        )

    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/training-runs/{run.pk}/"
    assert len(callbacks) == 1
    assert (run.settings["head_kind"], run.settings["epochs"], run.settings["ties"],
            run.settings["use_margin"], run.settings["features"]) == (
        "linear", 12, "half", True, TrainingSettings().features,
    )  # fmt: skip


def test_the_retrain_form_offers_the_fine_tune_trainer(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """Issue 16 (4): full fine-tuning was reachable only through the API."""
    preference_project(project, prompts=10)
    client = _client(designer)
    page = client.get(f"/projects/{project.slug}/training-runs/").content.decode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            f"/projects/{project.slug}/training-runs/new/",
            {"trainer": "finetune", "finetune_epochs": "2", "max_steps": "40", "max_length": "128"},
        )

    assert '<option value="finetune">finetune</option>' in page
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert (run.settings["trainer"], run.settings["finetune_epochs"], run.settings["max_steps"],
            run.settings["max_length"]) == ("finetune", 2, 40, 128)  # fmt: skip


def test_a_bad_fine_tune_setting_names_the_field_and_starts_nothing(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)

    response = _client(designer).post(
        f"/projects/{project.slug}/training-runs/new/",
        {"trainer": "finetune", "finetune_learning_rate": "2"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "finetune_learning_rate": ["Input should be less than or equal to 1"]
    }
    assert TrainingRun.objects.count() == 0


def test_retrain_with_a_bad_setting_shows_the_error_and_starts_nothing(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)

    response = _client(designer).post(
        f"/projects/{project.slug}/training-runs/new/", {"validation_fraction": "1.5"}
    )

    assert response.status_code == 400
    assert "Input should be less than 1" in response.content.decode()
    assert TrainingRun.objects.count() == 0


def test_the_run_page_polls_until_the_run_ends(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    run = _queued(project, designer)
    client = _client(designer)
    url = f"/projects/{project.slug}/training-runs/{run.pk}/progress/"

    page = client.get(f"/projects/{project.slug}/training-runs/{run.pk}/")
    polling = client.get(url, HTTP_HX_REQUEST="true")
    claimed = training_run_claim(run_id=run.pk, worker="w")
    assert claimed is not None
    training_run_execute(run=claimed, train=train_reward_model)
    done = client.get(url, HTTP_HX_REQUEST="true")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'hx-get="{url}"' in html
    assert 'hx-trigger="every 1s"' in html
    assert "Training data (frozen when the run was made)" in html
    assert polling.status_code == 200
    assert 'hx-trigger="every 1s"' in polling.content.decode()
    finished = done.content.decode()
    assert done.status_code == 286
    assert "hx-trigger" not in finished
    assert 'aria-label="Train and validation loss per epoch"' in finished
    assert "Succeeded" in finished


def test_the_finished_run_page_plots_its_metrics(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    first = _trained(project)
    reward_model_promote(model=first.reward_model)
    second = _trained(project, TrainingSettings(**{**FAST.model_dump(), "seed": 1}))

    html = (
        _client(designer)
        .get(f"/projects/{project.slug}/training-runs/{second.pk}/")
        .content.decode()
    )

    for label in (
        "Train and validation loss per epoch",
        "Validation accuracy with 95% interval, this run and the active model",
        "Reliability diagram: predicted against observed",
        "Accuracy by label strength",
    ):
        assert f'aria-label="{label}"' in html
    assert f'"Active: Run {first.pk} \\u00b7 linear"' in html  # the chart's JSON


def test_cancel_from_the_page(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = _queued(project, designer)

    response = _client(designer).post(f"/projects/{project.slug}/training-runs/{run.pk}/cancel/")

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_the_models_page_lists_models_and_promotes_with_a_warning(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    good = _trained(project).reward_model
    reward_model_promote(model=good)
    weak_settings = {**FAST.model_dump(), "epochs": 1, "learning_rate": 1e-6}  # the same split
    weak = _trained(project, TrainingSettings(**weak_settings)).reward_model
    client = _client(designer)

    listing = client.get(f"/projects/{project.slug}/reward-models/").content.decode()
    warned = client.post(f"/projects/{project.slug}/reward-models/{weak.pk}/promote/")
    assert list(RewardModel.objects.filter(is_promoted=True)) == [good]
    confirmed = client.post(
        f"/projects/{project.slug}/reward-models/{weak.pk}/promote/", {"confirm": "1"}
    )

    assert f'id="model-{good.pk}"' in listing
    assert f'id="model-{weak.pk}"' in listing
    assert "worse" in listing
    assert warned.status_code == 409
    assert "Promote anyway" in warned.content.decode()
    assert confirmed.status_code == 302
    assert list(RewardModel.objects.filter(is_promoted=True)) == [weak]


def test_the_pages_show_what_is_held_out_and_what_is_in_sample(project, designer):  # type: ignore[no-untyped-def]
    """Issue 16 (4): the active model is measured on a new run's validation pairs, most of
    which it trained on; the run page says so and compares on the one pair both held out."""
    preference_project(project, prompts=20)
    good = _trained(project).reward_model
    reward_model_promote(model=good)
    other = _trained(project, FAST.model_copy(update={"seed": 3}))
    client = _client(designer)

    run_page = client.get(f"/projects/{project.slug}/training-runs/{other.pk}/").content.decode()
    models_page = client.get(f"/projects/{project.slug}/reward-models/").content.decode()

    assert "on 6 held-out pairs (prompts this run did not train on)" in run_page
    assert "in-sample for it on 5 of them" in run_page
    assert "On the 1 pair that both runs held out (1 comparison)" in run_page
    assert "5 pairs that one of the two trained on are reported apart as in-sample" in run_page
    assert "Both models get the same held-out pair right, so this cannot tell them apart." in (
        run_page
    )
    assert "on 1 held-out pair · 95% intervals" in models_page
    assert "5 in-sample pairs left out" in models_page
    assert "Both models get the same held-out pair right, so this cannot" in models_page


def test_the_rule_form_saves_and_shows_the_count(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    client = _client(designer)

    saved = client.post(f"/projects/{project.slug}/training-runs/rule/", {"after_labels": "50"})
    page = client.get(f"/projects/{project.slug}/training-runs/").content.decode()

    assert saved.status_code == 302
    assert project.retrain_rule.after_labels == 50
    assert "6 labels since the last run. A run starts at 50." in page


def test_viewers_see_pages_without_buttons_and_the_tab_shows(project, viewer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = _queued(project)
    client = _client(viewer)

    runs = client.get(f"/projects/{project.slug}/training-runs/").content.decode()
    detail = client.get(f"/projects/{project.slug}/training-runs/{run.pk}/").content.decode()

    assert f'href="/projects/{project.slug}/reward-models/"' in runs
    assert 'id="retrain-form"' not in runs
    assert 'id="rule-form"' not in runs
    assert 'id="retrain-again"' not in detail
    assert 'id="cancel-run"' not in detail


def test_model_output_in_logs_is_escaped(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = _queued(project)
    TrainingRun.objects.filter(pk=run.pk).update(status="failed", error="<script>x()</script>",
                                                 logs="<img src=x onerror=y>")  # fmt: skip

    html = (
        _client(designer).get(f"/projects/{project.slug}/training-runs/{run.pk}/").content.decode()
    )

    assert "<script>x()</script>" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_the_models_page_compares_every_model_in_a_fixed_number_of_queries(project, designer):  # type: ignore[no-untyped-def]
    """Each row's "vs active" comes from one batch of reads, not a round of queries per
    model."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    preference_project(project, prompts=20)
    reward_model_promote(model=_trained(project).reward_model)
    _trained(project)
    client = _client(designer)
    url = f"/projects/{project.slug}/reward-models/"
    client.get(url)  # warm the session and the caches

    with CaptureQueriesContext(connection) as two:
        client.get(url)
    _trained(project)
    _trained(project)
    with CaptureQueriesContext(connection) as four:
        page = client.get(url)

    assert page.content.decode().count("on 6 held-out pairs") == 3
    assert len(four) == len(two)
