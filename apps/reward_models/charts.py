"""Chart.js configs (plain data) for the run and models pages, built from stored metrics."""

from __future__ import annotations

from typing import Any

from apps.core.charts import ERROR as VALIDATION_COLOUR
from apps.core.charts import INFO as TRAIN_COLOUR
from apps.core.charts import MUTED as BASELINE_COLOUR
from apps.core.charts import interval_dataset


def loss_curve(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Train and validation loss per epoch."""
    epochs = [entry.get("epoch") for entry in history]
    series = [("train_loss", "Train loss", TRAIN_COLOUR),
              ("validation_loss", "Validation loss", VALIDATION_COLOUR)]  # fmt: skip
    return {
        "type": "line",
        "data": {
            "labels": epochs,
            "datasets": [
                {
                    "label": name,
                    "data": [entry.get(key) for entry in history],
                    "borderColor": colour,
                    "backgroundColor": colour,
                    "pointRadius": 2,
                    "spanGaps": True,
                }
                for key, name, colour in series
            ],
        },
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": "Epoch"}},
                "y": {"title": {"display": True, "text": "Loss"}},
            }
        },
    }


def reliability_diagram(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """Observed share of pairs the chosen response won, against the predicted σ(r_c − r_r)."""
    bins = [b for b in metrics.get("reliability") or [] if b.get("count")]
    if not bins:
        return None
    points = [{"x": b["mean_predicted"], "y": b["observed"]} for b in bins]
    return {
        "type": "scatter",
        "data": {
            "datasets": [
                {"label": "Model", "data": points, "showLine": True,
                 "borderColor": TRAIN_COLOUR, "backgroundColor": TRAIN_COLOUR},
                {"label": "Perfect calibration", "data": [{"x": 0, "y": 0}, {"x": 1, "y": 1}],
                 "showLine": True, "borderDash": [4, 4], "pointRadius": 0,
                 "borderColor": BASELINE_COLOUR},
            ]
        },
        "options": {
            "scales": {
                "x": {"min": 0, "max": 1,
                      "title": {"display": True, "text": "Predicted P(chosen wins)"}},
                "y": {"min": 0, "max": 1, "title": {"display": True, "text": "Observed"}},
            }
        },
    }  # fmt: skip


def _grouped_accuracy(
    metrics: dict[str, Any], baseline: dict[str, Any], key: str, axis: str,
    names: dict[str, str] | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    groups = metrics.get(key) or {}
    if not groups:
        return None
    labels = list(groups)
    datasets = [
        {"label": "This run", "backgroundColor": TRAIN_COLOUR,
         "data": [groups[g].get("accuracy") for g in labels]},
    ]  # fmt: skip
    other = baseline.get(key) or {}
    if other:
        datasets.append(
            {
                "label": "Active model",
                "backgroundColor": BASELINE_COLOUR,
                "data": [(other.get(g) or {}).get("accuracy") for g in labels],
            }
        )
    names = names or {}
    return {
        "type": "bar",
        "data": {
            "labels": [f"{names.get(g, g)} (n={groups[g].get('count', 0)})" for g in labels],
            "datasets": datasets,
        },
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": axis}},
                "y": {"min": 0, "max": 1, "title": {"display": True, "text": "Accuracy"}},
            }
        },
    }


def accuracy_by_strength(
    metrics: dict[str, Any], baseline: dict[str, Any], scale: list[str]
) -> dict[str, Any] | None:
    names = {str(index): label for index, label in enumerate(scale)}
    return _grouped_accuracy(metrics, baseline, "accuracy_by_strength", "Strength", names)


def accuracy_by_agreement(
    metrics: dict[str, Any], baseline: dict[str, Any]
) -> dict[str, Any] | None:
    return _grouped_accuracy(metrics, baseline, "accuracy_by_agreement", "Annotator agreement")


def accuracy_with_intervals(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """Accuracy of each (name, metrics) as a bar, with its 95% interval as an error bar."""
    rows = [(name, m) for name, m in rows if isinstance(m.get("accuracy"), int | float)]
    if not rows:
        return None
    accuracy = interval_dataset(
        label="Validation accuracy",
        values=[m["accuracy"] for _, m in rows],
        intervals=[m.get("accuracy_ci") for _, m in rows],
        counts=[m.get("validation_pairs") for _, m in rows],
        backgroundColor=TRAIN_COLOUR,
    )
    return {
        "type": "bar",
        "data": {"labels": [name for name, _ in rows], "datasets": [accuracy]},
        "options": {"plugins": {"legend": {"display": False}},
                    "scales": {"y": {"min": 0, "max": 1,
                                     "title": {"display": True, "text": "Pairwise accuracy"}}}},
    }  # fmt: skip
