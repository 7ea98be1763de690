"""Inspecting a reward function version: how it agrees with people and how it can be gamed.

Pure numbers over plain data (no Django, no torch): the inspection job in
apps.rewards.inspection turns rows into `Preference`s and reward columns and calls
these functions; the web process uses `starc_distance` and `flips` directly.
Modules: agreement, distributions (with length bias and consistency), drivers
(ablation, contributions, worst pairs), probes, versions (distance, flips), weights.

Conventions (see /work/shared/research/reward-anchors.md §4):
- pairwise accuracy counts a reward tie as wrong (as RewardBench does); pairs where
  either reward is missing are left out and counted apart;
- intervals are percentile bootstraps that resample items (comparisons), so all
  judgments of a comparison move together;
- the human–human ceiling is the share of agreeing pairs of decisive judgments of
  the same preference (ties and "both bad" are not decisive);
- the STARC-style distance centres rewards per prompt, scales the whole vector to unit
  L2 norm and takes the L2 distance: 0 means the same ordering (up to per-prompt shifts
  and a positive scale) everywhere, 2 the exact opposite.
"""

from __future__ import annotations

from workers.rewards.inspection.agreement import (
    BOOTSTRAP_RESAMPLES,
    Accuracy,
    Preference,
    accuracy_by,
    human_agreement,
    pairwise_accuracy,
)
from workers.rewards.inspection.distributions import (
    consistency,
    correlation_matrix,
    histogram,
    length_bias,
    pearson,
)
from workers.rewards.inspection.drivers import (
    MajorityPair,
    ablation,
    contributions,
    majority_pairs,
    worst_pairs,
)
from workers.rewards.inspection.probes import (
    PROBES,
    Probe,
    newly_gamed,
    probe_effects,
    probe_effects_of,
    probe_sample,
)
from workers.rewards.inspection.versions import flips, starc_distance
from workers.rewards.inspection.weights import fit_weights, sign_rules, spec_with_weights

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "PROBES",
    "Accuracy",
    "MajorityPair",
    "Preference",
    "Probe",
    "ablation",
    "accuracy_by",
    "consistency",
    "contributions",
    "correlation_matrix",
    "fit_weights",
    "flips",
    "histogram",
    "human_agreement",
    "length_bias",
    "majority_pairs",
    "pairwise_accuracy",
    "newly_gamed",
    "pearson",
    "probe_effects",
    "probe_effects_of",
    "probe_sample",
    "sign_rules",
    "spec_with_weights",
    "starc_distance",
    "worst_pairs",
]
