"""Label-quality statistics over plain data: no Django, no database.

Callers turn labels into `Judgment(item, annotator, value)` rows (for pairwise labels the
value is the choice, or `signed_strength(...)` for ordinal α) and pass them here:

- agreement: `raw_agreement`, `cohen_kappa_matrix`, `krippendorff_alpha`, each an
  `Estimate(value, n_items, n_pairs)`; `bootstrap_interval` for any of them;
  `position_bias` for an annotator's left/right choices.
- consensus: `majority_vote`, `dawid_skene` (and `dawid_skene_without_own`, each
  judgment's item posterior with its annotator left out), and `soft_label` for P(A preferred).
- mappings: `signed_strength`, `signed_scale`, `ranking_to_pairs`.
"""

from __future__ import annotations

from apps.annotation.quality.agreement import (
    AlphaLevel,
    Estimate,
    KappaMatrix,
    PositionBias,
    bootstrap_interval,
    cohen_kappa_matrix,
    krippendorff_alpha,
    position_bias,
    raw_agreement,
)
from apps.annotation.quality.consensus import (
    PREFERENCE_CLASSES,
    DawidSkeneResult,
    SoftLabel,
    dawid_skene,
    dawid_skene_without_own,
    majority_vote,
    soft_label,
)
from apps.annotation.quality.judgments import (
    Judgment,
    Value,
    judgments_by_item,
    ranking_to_pairs,
    signed_scale,
    signed_strength,
)

__all__ = [
    "PREFERENCE_CLASSES",
    "AlphaLevel",
    "DawidSkeneResult",
    "Estimate",
    "Judgment",
    "KappaMatrix",
    "PositionBias",
    "SoftLabel",
    "Value",
    "bootstrap_interval",
    "cohen_kappa_matrix",
    "dawid_skene",
    "dawid_skene_without_own",
    "judgments_by_item",
    "krippendorff_alpha",
    "majority_vote",
    "position_bias",
    "ranking_to_pairs",
    "raw_agreement",
    "signed_scale",
    "signed_strength",
    "soft_label",
]
