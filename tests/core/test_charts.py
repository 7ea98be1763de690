"""Chart configs with intervals: each value carries its interval (drawn as an error bar by
static/js/charts.js), never a second, floating interval bar; heat maps print their values.
The drawing itself is checked in tests/browser/test_theme.py."""

from __future__ import annotations

import json
from pathlib import Path

from apps.annotation import quality_charts
from apps.rewards.inspection import charts as inspection_charts

RESULT = json.loads((Path(__file__).parents[1] / "rewards/inspection_result.json").read_text())


def test_agreement_statistics_are_one_dataset_carrying_intervals_and_item_counts():
    rows = [
        ("Choice: raw agreement", {"value": 0.5, "n_items": 4, "interval": [0.0, 1.0]}),
        ("Group tiny", {"value": 1.0, "n_items": 1, "interval": None}),
    ]

    config = quality_charts.interval_bars(rows, horizontal=True)

    assert config["data"]["labels"] == ["Choice: raw agreement (4 items)", "Group tiny (1 items)"]
    assert config["data"]["datasets"] == [
        {
            "label": "Value",
            "data": [0.5, 1.0],
            "errorBars": {"level": "95% CI", "bounds": [[0.0, 1.0], None], "counts": [4, 1]},
            "backgroundColor": "var(--chart-accent)",
        }
    ]
    assert config["options"]["indexAxis"] == "y"


def test_the_kappa_heat_map_prints_its_values_between_theme_coloured_cells():
    figures = {"kappa": [{"annotators": [1, 2], "value": 0.25}],
               "annotator_names": {"1": "ann", "2": "bob"}}  # fmt: skip

    config = quality_charts.kappa_heatmap(figures)

    assert config is not None
    dataset = config["data"]["datasets"][0]
    assert [(c["x"], c["y"], c["v"]) for c in dataset["data"]] == [
        ("ann", "ann", 1.0), ("bob", "bob", 1.0), ("ann", "bob", 0.25), ("bob", "ann", 0.25),
    ]  # fmt: skip
    assert dataset["borderColor"] == "var(--surface)"
    assert config["options"]["plugins"]["cellValues"] == {"display": True, "decimals": 2}


def test_the_inspectors_accuracies_carry_their_intervals_and_pair_counts():
    charts = inspection_charts.inspection_charts(RESULT)

    agreement = charts["agreement"]["data"]
    assert agreement["labels"] == [
        "overall", "people (ceiling)", "annotator ann", "annotator bob", "criterion clarity",
        "group capital",
    ]  # fmt: skip
    [points] = agreement["datasets"]
    assert points["type"] == "line"
    assert points["errorBars"] == {
        "level": "95% CI",
        "bounds": [[0.4, 1.0], [0.0, 1.0], [0.25, 1.0], [0.0, 1.0], [1.0, 1.0], [0.25, 1.0]],
        "counts": [7, 2, 4, 3, 1, 6],
    }
    [ablation] = charts["ablation"]["data"]["datasets"]
    assert ablation["data"] == [5 / 7, 1 / 7, 5 / 7]
    assert ablation["errorBars"]["bounds"] == [[0.4, 1.0], [0.0, 0.375], [0.4, 1.0]]
    assert ablation["errorBars"]["counts"] == [7, 7, 7]
    assert charts["correlation"]["options"]["plugins"]["cellValues"]["display"] is True


def test_both_heat_maps_colour_their_cells_from_the_one_palette():
    figures = {"kappa": [{"annotators": [1, 2], "value": -0.5}],
               "annotator_names": {"1": "ann", "2": "bob"}}  # fmt: skip
    matrix = {"names": ["a", "b"], "matrix": [[1.0, None], [None, 1.0]]}
    correlation = inspection_charts.correlation(matrix)

    kappa = quality_charts.kappa_heatmap(figures)

    assert kappa is not None
    assert kappa["data"]["datasets"][0]["backgroundColor"] == [
        "rgba(36, 94, 158, 1.000)", "rgba(36, 94, 158, 1.000)",
        "rgba(180, 35, 24, 0.575)", "rgba(180, 35, 24, 0.575)",
    ]  # fmt: skip
    assert correlation["data"]["datasets"][0]["backgroundColor"] == [
        "rgba(36, 94, 158, 1.000)", "rgba(154, 147, 166, 0.4)",
        "rgba(154, 147, 166, 0.4)", "rgba(36, 94, 158, 1.000)",
    ]  # fmt: skip
