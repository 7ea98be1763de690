"""Chart.js configs (plain dicts for the `chart` template tag) from an inspection's result."""

from __future__ import annotations

from typing import Any

from apps.core.charts import (
    ACCENT,
    CELL_BORDER,
    ERROR,
    INFO,
    INFO_SOFT,
    MUTED,
    cell_values,
    diverging_colour,
    interval_dataset,
)


def _bar(labels: list[str], datasets: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {"plugins": {"legend": {"display": len(datasets) > 1}}, **options},
    }


def _number(value: float) -> str:
    return f"{value:.3g}"


def histogram(data: dict[str, Any], *, label: str, colour: str = ACCENT) -> dict[str, Any]:
    """Bars over the bins: their counts, labelled by each bin's range."""
    edges = data["edges"]
    labels = [f"{_number(edges[i])} to {_number(edges[i + 1])}" for i in range(len(edges) - 1)]
    return _bar(
        labels,
        [
            {
                "label": label,
                "data": data["counts"],
                "backgroundColor": colour,
                "barPercentage": 1.0,
                "categoryPercentage": 1.0,
            }
        ],  # fmt: skip
        scales={
            "y": {"beginAtZero": True, "title": {"display": True, "text": "responses"}},
            "x": {"ticks": {"maxTicksLimit": 6}},
        },  # fmt: skip
    )


def correlation(data: dict[str, Any]) -> dict[str, Any]:
    """A heat map of Pearson's r between components (blue positive, red negative)."""
    names = data["names"]
    cells = [
        {"x": b, "y": a, "v": data["matrix"][i][j]}
        for i, a in enumerate(names)
        for j, b in enumerate(names)
    ]
    return {
        "type": "matrix",
        "data": {"datasets": [{
            "label": "Pearson r",
            "data": cells,
            "backgroundColor": [diverging_colour(c["v"]) for c in cells],
            "borderColor": CELL_BORDER,
            "borderWidth": 1,
        }]},
        "options": {
            "plugins": {"legend": {"display": False}, **cell_values()},
            "scales": {
                "x": {"type": "category", "labels": names, "offset": True,
                      "grid": {"display": False}},
                "y": {"type": "category", "labels": names, "offset": True, "reverse": True,
                      "grid": {"display": False}},
            },
        },
    }  # fmt: skip


def _interval_rows(rows: list[tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
    """Each estimate as a point with its 95% interval as an error bar."""
    shown = [(name, a) for name, a in rows if a and a.get("value") is not None]
    accuracy = interval_dataset(
        label="pairwise accuracy",
        values=[a["value"] for _, a in shown],
        intervals=[a["interval"] for _, a in shown],
        counts=[a.get("n") for _, a in shown],
        type="line", showLine=False, pointRadius=5, pointHoverRadius=7, clip=False,
        backgroundColor=ACCENT, borderColor=ACCENT,
    )  # fmt: skip
    return {
        "type": "bar",
        "data": {"labels": [name for name, _ in shown], "datasets": [accuracy]},
        "options": {
            "indexAxis": "x",
            "plugins": {"legend": {"display": False}},
            "scales": {
                "x": {"offset": True},  # points, like bars, sit in the middle of their slot
                "y": {"min": 0, "max": 1, "title": {"display": True, "text": "pairwise accuracy"}},
            },
        },
    }  # fmt: skip


def agreement(result: dict[str, Any]) -> dict[str, Any]:
    accuracy = result["accuracy"]
    kind = (result.get("agreement_basis") or {}).get("kind", "all")
    headline = {"held_out": "held out", "in_sample": "overall (in-sample)"}.get(kind, "overall")
    rows: list[tuple[str, dict[str, Any] | None]] = [(headline, accuracy["overall"])]
    if accuracy.get("in_sample"):
        rows.append(("in-sample (trained on)", accuracy["in_sample"]))
    rows.append(("people (ceiling)", result["ceiling"]))
    rows += [(f"annotator {name}", a) for name, a in accuracy["annotators"].items()]
    rows += [(f"criterion {name}", a) for name, a in accuracy["criteria"].items()]
    rows += [(f"group {name}", a) for name, a in list(accuracy["groups"].items())[:20]]
    return _interval_rows(rows)


def ablation(result: dict[str, Any]) -> dict[str, Any]:
    """Accuracy with all components and with each dropped, each with its 95% interval."""
    rows = [result["accuracy"]["overall"]] + [r["accuracy"] for r in result["ablation"]]
    accuracy = interval_dataset(
        label="pairwise accuracy",
        values=[a["value"] for a in rows],
        intervals=[a.get("interval") for a in rows],
        counts=[a.get("n") for a in rows],
        backgroundColor=[ACCENT] + [INFO for _ in rows[1:]],
    )
    return _bar(
        ["all components"] + [f"without {r['component']}" for r in result["ablation"]],
        [accuracy],
        scales={"y": {"min": 0, "max": 1}},
    )


def probes(result: dict[str, Any]) -> dict[str, Any]:
    """Per probe, the shares of responses whose reward it raises (red) and lowers (grey)."""
    rows = result["probes"]
    return _bar(
        [r["probe"].replace("_", " ") for r in rows],
        [
            {"label": "reward rises", "data": [r["raised"] for r in rows],
             "backgroundColor": ERROR},
            {"label": "reward falls", "data": [r["lowered"] for r in rows],
             "backgroundColor": MUTED},
        ],
        scales={"y": {"min": 0, "max": 1, "title": {"display": True,
                                                    "text": "share of responses"}}},
    )  # fmt: skip


def length(result: dict[str, Any]) -> dict[str, Any]:
    points = result.get("length_points", [])
    return {
        "type": "scatter",
        "data": {"datasets": [{"label": "responses", "data": [{"x": x, "y": y} for x, y in points],
                               "backgroundColor": INFO_SOFT, "borderColor": INFO,
                               "pointRadius": 3}]},
        "options": {
            "plugins": {"legend": {"display": False}},
            "scales": {"x": {"title": {"display": True, "text": "length (characters)"}},
                       "y": {"title": {"display": True, "text": "reward"}}},
        },
    }  # fmt: skip


def consistency(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["consistency"]["groups"][:20]
    return _bar(
        [r["group"] for r in rows],
        [
            {
                "label": "spread of prompt means (std)",
                "data": [r["spread"] for r in rows],
                "backgroundColor": INFO,
            }
        ],  # fmt: skip
        scales={"y": {"beginAtZero": True}},
    )


def weights(fit: dict[str, Any]) -> dict[str, Any]:
    names = fit["components"]
    current = fit.get("current_weights") or {}
    datasets = [{"label": "proposed", "data": [fit["weights"][n] for n in names],
                 "backgroundColor": ACCENT}]  # fmt: skip
    if current:
        datasets.insert(0, {"label": "current", "data": [current.get(n) for n in names],
                            "backgroundColor": MUTED})  # fmt: skip
    return _bar(names, datasets)


def inspection_charts(result: dict[str, Any] | None) -> dict[str, Any]:
    """Every chart of a result, by panel; empty for no result."""
    if not result:
        return {}
    charts: dict[str, Any] = {
        "total": histogram(result["histograms"]["total"], label="reward", colour=ACCENT),
        "components": [
            (name, histogram(result["histograms"][name], label=name, colour=INFO))
            for name in result["components"]
        ],
        "correlation": correlation(result["correlation"]),
        "agreement": agreement(result),
        "ablation": ablation(result),
        "probes": probes(result),
        "length": length(result),
        "consistency": consistency(result) if result["consistency"]["groups"] else None,
        "weights": weights(result["fit"]) if "weights" in result["fit"] else None,
    }
    return charts
