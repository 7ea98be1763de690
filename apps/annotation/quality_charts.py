"""Chart.js configs (plain data, for the `chart` tag) from stored label-quality figures."""

from __future__ import annotations

from typing import Any

from apps.core.charts import ACCENT as VALUE
from apps.core.charts import ACCENT_SOFT as SOFT
from apps.core.charts import CELL_BORDER, cell_values, diverging_colour, interval_dataset
from apps.core.charts import MUTED as TEAM

MAX_GROUPS = 30


def estimate_rows(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The headline statistics, each with its name: choice, strength, then each criterion."""
    if not figures:
        return []
    rows = [
        ("Choice: raw agreement", figures["choice"]["raw"]),
        ("Choice: α (nominal)", figures["choice"]["alpha"]),
        ("Signed strength: α (ordinal)", figures["strength"]),
    ]
    rows += [(f"{name}: α (ordinal)", estimate) for name, estimate in figures["criteria"].items()]
    return rows


def group_rows(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Prompt groups with most items first (at most MAX_GROUPS), for the chart."""
    groups = figures.get("groups", {}) if figures else {}
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1]["n_items"], kv[0]))
    return [(f"Group {name}", estimate) for name, estimate in ranked[:MAX_GROUPS]]


def interval_bars(rows: list[tuple[str, dict[str, Any]]], *, horizontal: bool = False) -> dict:
    """Each statistic as a bar with its 95% bootstrap interval as an error bar on it."""
    labels = [f"{name} ({estimate['n_items']} items)" for name, estimate in rows]
    axis = "x" if horizontal else "y"
    value = interval_dataset(
        label="Value",
        values=[estimate["value"] for _, estimate in rows],
        intervals=[estimate.get("interval") for _, estimate in rows],
        counts=[estimate["n_items"] for _, estimate in rows],
        backgroundColor=VALUE,
    )
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": [value]},
        "options": {
            "indexAxis": "y" if horizontal else "x",
            "plugins": {"legend": {"display": False}},
            "scales": {axis: {"suggestedMin": 0, "max": 1}},
        },
    }


def kappa_heatmap(figures: dict[str, Any]) -> dict | None:
    """Cohen's κ for every pair of annotators as a matrix (chartjs-chart-matrix)."""
    pairs = figures.get("kappa", []) if figures else []
    if not pairs:
        return None
    names = figures.get("annotator_names", {})

    def name(pk: object) -> str:
        return names.get(str(pk), f"#{pk}")

    people = sorted({name(pk) for pair in pairs for pk in pair["annotators"]})
    cells: list[dict[str, Any]] = [{"x": person, "y": person, "v": 1.0} for person in people]
    colours = [diverging_colour(1.0) for _ in people]
    for pair in pairs:
        first, second = (name(pk) for pk in pair["annotators"])
        for x, y in ((first, second), (second, first)):
            cells.append({"x": x, "y": y, "v": pair["value"]})
            colours.append(diverging_colour(pair["value"]))
    return {
        "type": "matrix",
        "data": {
            "datasets": [
                {
                    "label": "Cohen's κ",
                    "data": cells,
                    "backgroundColor": colours,
                    "borderColor": CELL_BORDER,
                    "borderWidth": 1,
                }
            ]
        },
        "options": {
            "plugins": {"legend": {"display": False}, **cell_values()},
            "scales": {
                "x": {
                    "type": "category",
                    "labels": people,
                    "offset": True,
                    "grid": {"display": False},
                },
                "y": {
                    "type": "category",
                    "labels": people,
                    "offset": True,
                    "reverse": False,  # the plugin reverses y; read the matrix top-down
                    "grid": {"display": False},
                },
            },  # fmt: skip
        },
    }


def people_bars(people: list[dict[str, Any]], team: dict[str, Any]) -> dict:
    """Each annotator's agreement with the others' consensus (their own label left out) and
    gold accuracy, beside the team's."""
    labels = [person["username"] for person in people] + ["Team"]

    def shares(name: str) -> list[float | None]:
        return [person[name]["share"] for person in people] + [team[name]["share"]]

    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": "Agreement with the others' consensus",
                    "data": shares("consensus"),
                    "backgroundColor": VALUE,
                },
                {"label": "Gold accuracy", "data": shares("gold"), "backgroundColor": TEAM},
            ],  # fmt: skip
        },
        "options": {"scales": {"y": {"min": 0, "max": 1}}},
    }


def labels_per_day(person: dict[str, Any]) -> dict:
    return {
        "type": "bar",
        "data": {
            "labels": [row["day"] for row in person["per_day"]],
            "datasets": [
                {
                    "label": "Labels",
                    "data": [row["labels"] for row in person["per_day"]],
                    "backgroundColor": VALUE,
                }
            ],
        },
        "options": {"plugins": {"legend": {"display": False}},
                    "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}}},
    }  # fmt: skip


def gold_over_time(person: dict[str, Any], team_share: float | None) -> dict:
    """Gold accuracy per day and running, with the team's overall share as a line."""
    days = [row["day"] for row in person["gold_by_day"]]
    datasets: list[dict[str, Any]] = [
        {
            "label": "Running accuracy",
            "data": [row["running"] for row in person["gold_by_day"]],
            "borderColor": VALUE,
            "backgroundColor": VALUE,
        },
        {
            "label": "That day",
            "data": [row["correct"] / row["total"] for row in person["gold_by_day"]],
            "borderColor": SOFT,
            "backgroundColor": SOFT,
            "showLine": False,
        },
    ]
    if team_share is not None:
        datasets.append({"label": "Team", "data": [team_share] * len(days),
                         "borderColor": TEAM, "borderDash": [4, 4], "pointRadius": 0})  # fmt: skip
    return {
        "type": "line",
        "data": {"labels": days, "datasets": datasets},
        "options": {"scales": {"y": {"min": 0, "max": 1}}},
    }
