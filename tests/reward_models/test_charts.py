"""Chart configs built from stored metrics: exact data, nothing drawn for missing metrics."""

from __future__ import annotations

from apps.reward_models import charts


def test_the_loss_curve_has_both_losses_per_epoch():
    history = [
        {"epoch": 1, "train_loss": 0.69, "validation_loss": 0.7},
        {"epoch": 2, "train_loss": 0.5},
    ]

    config = charts.loss_curve(history)

    assert config["type"] == "line"
    assert config["data"]["labels"] == [1, 2]
    assert [(d["label"], d["data"]) for d in config["data"]["datasets"]] == [
        ("Train loss", [0.69, 0.5]),
        ("Validation loss", [0.7, None]),
    ]


def test_accuracy_by_strength_names_the_scale_and_sits_beside_the_active_model():
    metrics = {"accuracy_by_strength": {"0": {"accuracy": 0.5, "count": 4},
                                        "2": {"accuracy": 1.0, "count": 2}}}  # fmt: skip
    baseline = {"accuracy_by_strength": {"0": {"accuracy": 0.25, "count": 4}}}

    config = charts.accuracy_by_strength(metrics, baseline, ["slightly", "somewhat", "much"])

    assert config is not None
    assert config["data"]["labels"] == ["slightly (n=4)", "much (n=2)"]
    assert [(d["label"], d["data"]) for d in config["data"]["datasets"]] == [
        ("This run", [0.5, 1.0]),
        ("Active model", [0.25, None]),
    ]
    assert charts.accuracy_by_strength({}, baseline, ["a"]) is None


def test_accuracy_with_intervals_and_the_reliability_diagram():
    rows = [("Run 3", {"accuracy": 0.75, "accuracy_ci": [0.6, 0.9], "validation_pairs": 40}),
            ("Old", {"accuracy": 0.5}), ("Empty", {})]  # fmt: skip
    reliability = {"reliability": [
        {"bin_low": 0.5, "bin_high": 0.6, "mean_predicted": 0.55, "observed": 0.5, "count": 4},
        {"bin_low": 0.6, "bin_high": 0.7, "mean_predicted": 0.0, "observed": 0.0, "count": 0},
    ]}  # fmt: skip

    intervals = charts.accuracy_with_intervals(rows)
    diagram = charts.reliability_diagram(reliability)

    assert intervals is not None
    assert diagram is not None
    assert intervals["data"]["labels"] == ["Run 3", "Old"]
    # One dataset: each value carries its interval, drawn as an error bar on it.
    assert intervals["data"]["datasets"] == [
        {
            "label": "Validation accuracy",
            "data": [0.75, 0.5],
            "errorBars": {"level": "95% CI", "bounds": [[0.6, 0.9], None], "counts": [40, None]},
            "backgroundColor": "var(--chart-info)",
        }
    ]
    assert diagram["data"]["datasets"][0]["data"] == [{"x": 0.55, "y": 0.5}]
    assert charts.reliability_diagram({}) is None
