"""The data card: a README.md written beside the data files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apps.accounts.settings_schema import ConsensusRule
from apps.exports.consensus import consensus_rule_text
from apps.exports.formats import Stats
from apps.exports.options import ExportOptions

_DESCRIPTIONS = {
    "trl-preference": (
        "Preference pairs for TRL (`RewardTrainer`, `DPOTrainer`): `prompt`, `chosen`, "
        "`rejected`{margin}. One row per item with a consensus."
    ),
    "labels-raw": (
        "One row per current label: the item (prompt, response ids and texts), the annotator, "
        "choice, strength, ranking, per-criterion ratings, spans, rationale, the order shown, "
        "time spent, rubric version and source. For per-annotator and pluralistic models."
    ),
    "ratings": (
        "One row per rated response: for each rubric criterion the mean rating and the number "
        "of ratings (`<criterion>`, `<criterion>_count`), and `labels`, how many labels rated it."
    ),
    "rewards": (
        "One row per scored response: a reward function version's `total` and its components' "
        "raw values (`components`)."
    ),
}
_LOADERS = {"jsonl": "json", "parquet": "parquet", "csv": "csv"}


@dataclass(frozen=True, slots=True)
class CardFile:
    split: str
    name: str
    rows: int
    sha256: str


def card_render(
    *,
    project_name: str,
    project_slug: str,
    export_format: str,
    file_format: str,
    options: ExportOptions,
    conversational: bool,
    files: list[CardFile],
    stats: Stats,
    rubric_versions: list[str],
    reward_version: str | None,
    created_at: datetime,
    export_id: int | None,
    consensus_rule: ConsensusRule = ConsensusRule.MAJORITY,
) -> str:
    """The README.md text: front matter naming the splits for the Hugging Face Hub, then prose."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for file in files:
        lines += [f"  - split: {file.split}", f"    path: {file.name}"]
    lines += ["---", "", f"# {project_name}: {export_format} export", ""]
    which = f"export #{export_id} of " if export_id else ""
    lines += [
        f"Written by Palate ({which}project `{project_slug}`) on "
        f"{created_at.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
        "",
        "## Format",
        "",
        _DESCRIPTIONS[export_format].format(margin=" and `margin`" if options.margin else ""),
        "",
        f"- File format: {file_format}; prompt form: "
        f"{'conversational (lists of messages)' if conversational else 'standard (strings)'}.",
    ]
    if export_format == "trl-preference":
        ties = "written (chosen = the lower response id)" if options.ties == "write" else "excluded"
        both_bad = "written" if options.both_bad == "write" else "excluded"
        lines.append(f"- Ties: {ties}; both bad: {both_bad}.")
        if options.margin:
            lines.append(
                "- `margin`: mean of (strength index + 1) / scale size over the labels that voted "
                "for the consensus (a reviewer's own strength when they gave one); 0 where none "
                "gave a strength, and for ties and both-bad."
            )
        if options.soft_label:
            lines.append(
                "- `p_chosen`: the consensus probability that `chosen` is preferred: vote shares "
                "(a tie or both-bad counts half each way), Dawid–Skene's posterior, or 1 for a "
                "reviewer's decision (0.5 for a reviewed tie or both-bad)."
            )
    if export_format == "labels-raw":
        who = (
            "pseudonymised: a keyed hash of the user id, stable across this installation's exports"
            if options.pseudonymise_annotators
            else "usernames (pseudonymisation turned off by an admin)"
        )
        lines.append(f"- Annotators: {who}; imported labels have none.")
    if reward_version:
        lines.append(f"- Reward function version: {reward_version}.")
    lines += ["", "## Files", "", "| split | file | rows | sha256 |", "|---|---|---|---|"]
    lines += [f"| {f.split} | {f.name} | {f.rows} | `{f.sha256}` |" for f in files]
    if options.test_share:
        lines += [
            "",
            f"Split by prompt: a prompt goes to `test` when a hash of its content and seed "
            f"{options.seed} falls below {options.test_share:g}, so no prompt is in both splits.",
        ]
    lines += ["", "## How labels became rows", ""]
    if export_format in ("trl-preference", "labels-raw"):
        lines += [consensus_rule_text(consensus_rule), ""]
        if export_format == "trl-preference":
            lines += [f"Items decided by a reviewer: {stats.reviewed_items}.", ""]
    filters = options.filters_applied(export_format)
    lines.append("Filters: " + ("; ".join(filters) + "." if filters else "none."))
    for reason, count in sorted(stats.skipped.items()):
        lines.append(f"- left out, {reason}: {count}")
    if export_format != "rewards":
        lines += ["", "## Agreement and annotators", ""]
        value = stats.agreement.value
        lines.append(
            f"- Raw agreement over the exported items: {value:.3f} "
            f"({stats.agreement.n_items} items with two or more labels, "
            f"{stats.agreement.n_pairs} pairs of labels)."
            if value is not None
            else "- Raw agreement: not defined (no exported item has two labels)."
        )
        lines.append(
            f"- Annotators: {len(stats.annotators)}; imported labels: {stats.imported_labels}."
        )
        lines.append(
            "- Rubric versions: "
            + (", ".join(rubric_versions) if rubric_versions else "none")
            + "."
        )
    loader = _LOADERS[file_format]
    data_files = ", ".join(f'"{f.split}": "{f.name}"' for f in files)
    lines += [
        "",
        "## Load",
        "",
        "```python",
        "from datasets import load_dataset",
        f'dataset = load_dataset("{loader}", data_files={{{data_files}}})',
        "```",
        "",
    ]
    return "\n".join(lines)
