from __future__ import annotations

import datetime
import re

import pytest
from django.template import Context, Template
from django.utils import timezone

from apps.core.humanize import relative_time
from apps.rubrics.models import Rubric, RubricVersion

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "just now"),
        (59, "just now"),
        (60, "1\xa0minute ago"),
        (61, "1\xa0minute ago"),
        (2 * 3600, "2\xa0hours ago"),
        (2 * 3600 + 5 * 60, "2\xa0hours, 5\xa0minutes ago"),
        (-30, "just now"),  # a clock a little ahead
    ],
)
def test_it_says_how_long_ago(seconds: int, expected: str) -> None:
    assert relative_time(NOW - datetime.timedelta(seconds=seconds), now=NOW) == expected


def test_the_filter_says_just_now_and_nothing_for_no_time() -> None:
    template = Template("{% load palate %}[{{ fresh|ago }}][{{ missing|ago }}]")

    assert template.render(Context({"fresh": timezone.now(), "missing": None})) == "[just now][]"


def test_a_page_shows_a_fresh_object_as_just_now(client, project, designer) -> None:  # type: ignore[no-untyped-def]
    rubric = Rubric.objects.create(project=project, name="Fresh")
    RubricVersion.objects.create(rubric=rubric, number=1, criteria=[])
    client.force_login(designer)

    html = client.get(f"/projects/{project.slug}/rubrics/").content.decode()

    assert re.findall(r"<time datetime=\"[^\"]+\">([^<]*)</time>", html) == ["just now"]
    assert "0\xa0minutes" not in html
