"""`load_demo`'s lived-in project: built through the services and jobs users run, loaded
once however often the command runs, and every tab of it has content for each role."""

from __future__ import annotations

import html
import io
import re

import pytest
from django.core.management import call_command

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label, ReviewDecision
from apps.annotation.review import review_queue
from apps.exports.models import Export
from apps.imports.models import ImportJob
from apps.reward_models.models import RewardModel, TrainingRun
from apps.rewards.models import Inspection, RewardFunctionVersion, ScoreRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SLUG = "demo-lived-in"
# What each tab shows once the project has been worked in, by the end of its path.
TAB_CONTENT = {
    "": [r"Labels \d{3}", r"Comparisons \d+"],
    "prompts/": ["How do I reverse a string in Python?"],
    "imports/": [r"prompts-every-2\.jsonl .* Succeeded .* 37 prompts"],
    "annotate/": [r"\d+ done today · [1-9]\d* left"],
    "quality/": [r"on \d{3} labels from 6 annotators", "Cohen's κ between annotators"],
    "rubrics/": ["Helpful, honest, harmless"],
    "rewards/": [r"Helpful, concise, no filler .* v2 Gate: an answer with filler phrases"],
    "inspector/": [r"v2 Gate: .* Succeeded"],
    "reward-models/": [r"Run \d+ · mlp Active MLP on all-MiniLM-L6-v2"],
    "exports/": [r"trl-preference JSON Lines Succeeded \d+ train \(\d+ rows"],
    "members/": ["lena", "maria", "raj", "sam", "tom", "viewer"],
    "settings/": ["Gold rate"],
}
ROLE_TABS = {
    "admin": set(TAB_CONTENT),
    "designer": set(TAB_CONTENT) - {"settings/"},
    "viewer": set(TAB_CONTENT) - {"annotate/", "exports/", "settings/"},
    "annotator": {"", "annotate/", "quality/annotators/{me}/", "rubrics/", "members/"},
}


def page_text(content: bytes) -> str:
    """What a reader sees of the page's main part: no head, navigation or scripts."""
    text = content.decode()
    text = re.sub(
        r"(?s)<head>.*?</head>|<nav class=\"tabs\".*?</nav>|<script.*?</script>", "", text
    )
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def project_counts(project: Project) -> dict[str, int]:
    return {
        "imports": ImportJob.objects.filter(project=project).count(),
        "labels": Label.objects.filter(comparison__project=project).count(),
        "gold": Comparison.objects.filter(project=project, is_gold=True).count(),
        "decisions": ReviewDecision.objects.filter(comparison__project=project).count(),
        "runs": TrainingRun.objects.filter(project=project).count(),
        "models": RewardModel.objects.filter(project=project).count(),
        "versions": RewardFunctionVersion.objects.filter(function__project=project).count(),
        "score_runs": ScoreRun.objects.filter(project=project).count(),
        "inspections": Inspection.objects.filter(project=project).count(),
        "exports": Export.objects.filter(project=project).count(),
    }


def longer_share(project: Project, username: str) -> float:
    """How often the person's decisive choices went to the longer response."""
    labels = Label.objects.filter(
        comparison__project=project, annotator__username=username, choice__in=["a", "b"]
    ).select_related("comparison__response_a", "comparison__response_b")
    longer = [
        (len(label.comparison.response_a.text) >= len(label.comparison.response_b.text))
        == (label.choice == "a")
        for label in labels
    ]
    return sum(longer) / len(longer)


def test_the_lived_in_project_loads_once_from_finished_jobs_and_every_tab_has_content(
    client, settings
):
    settings.DEMO_PASSWORD = "lived-in-pass"
    out = io.StringIO()

    call_command("load_demo", stdout=out)
    project = Project.objects.get(slug=SLUG)
    counts = project_counts(project)
    call_command("load_demo", stdout=io.StringIO())

    assert project_counts(project) == counts
    assert counts == {
        **counts, "imports": 1, "gold": 8, "decisions": 2, "runs": 1, "models": 1, "versions": 2,
        "score_runs": 2, "inspections": 1, "exports": 1,
    }  # fmt: skip
    assert 250 <= counts["labels"] <= 280
    annotators = set(
        Label.objects.filter(comparison__project=project).values_list(
            "annotator__username", flat=True
        )
    )
    assert annotators == {"annotator", "lena", "maria", "raj", "sam", "tom"}
    run = TrainingRun.objects.get(project=project)
    assert run.status == "succeeded"
    assert len(run.history) >= 2
    assert run.reward_model.is_promoted
    assert set(ScoreRun.objects.filter(project=project).values_list("status", flat=True)) == {
        "succeeded"
    }
    gated = RewardFunctionVersion.objects.get(function__project=project, number=2)
    assert gated.spec["combine"]["expression"].startswith("if(filler < 0,")
    assert gated.scores.count() == 114
    assert Inspection.objects.get(project=project).status == "succeeded"
    export = Export.objects.get(project=project)
    assert export.status == "succeeded"
    assert sum(export.row_counts.values()) > 50
    # Real disagreement, with causes the quality pages can find.
    assert review_queue(project=project).exists()
    shares = {name: longer_share(project, name) for name in ("lena", "maria", "sam")}
    assert shares["lena"] > shares["maria"] + 0.05 > shares["sam"] + 0.2, shares
    assert User.objects.get(username="maria").check_password("lived-in-pass")
    text = out.getvalue()
    assert "Log in as admin, designer, annotator with the password 'lived-in-pass'" in text
    assert "also viewer, maria, tom, lena, sam, raj" in text

    for username, tabs in ROLE_TABS.items():
        user = User.objects.get(username=username)
        client.force_login(user)
        base = f"/projects/{SLUG}/"
        nav = re.search(r'<nav class="tabs".*?</nav>', client.get(base).content.decode(), re.S)
        links = re.findall(r'href="([^"]+)"', nav.group(0))
        expected = {base + tab.format(me=user.pk) for tab in tabs}
        assert set(links) == expected, username
        for link in links:
            response = client.get(link)
            assert response.status_code == 200, link
            text = page_text(response.content)
            for pattern in TAB_CONTENT.get(link.removeprefix(base), []):
                assert re.search(pattern, text), (username, link, pattern, text[:3000])
    # The pages behind the tabs: the inspection's panels, the run's curves, review, gold.
    client.force_login(User.objects.get(username="designer"))
    version = RewardFunctionVersion.objects.get(function__project=project, number=2)
    run = TrainingRun.objects.get(project=project)
    behind = {
        f"inspector/versions/{version.pk}/": [
            r"Pairwise accuracy \(held out\)", "Agreement with people", "Gamed by",
            "Distribution of the reward",
        ],
        f"training-runs/{run.pk}/": ["Succeeded", "Loss", r"epoch 2: train loss"],
        "review/": [r"#\d+ .* 3 0"],
        "gold/": [r"#\d+ .* (a|b) \d+ of \d+ Unmark"],
        f"quality/annotators/{User.objects.get(username='lena').pk}/": [
            r"Chose the longer response \d+%"
        ],
    }  # fmt: skip
    for path, patterns in behind.items():
        response = client.get(f"/projects/{SLUG}/{path}")
        assert response.status_code == 200, path
        text = page_text(response.content)
        for pattern in patterns:
            assert re.search(pattern, text), (path, pattern, text[:3000])
    assert project.annotation_settings["gold_rate"] == 0.1
