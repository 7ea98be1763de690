"""Reward functions: versions, score runs, and scoring with work done by an injected engine.

The heavy part (embeddings, reward heads, judges) lives in `workers.ml` and never
runs in the web process. Tasks build an engine there and pass its
`component_values` into the functions here as `compute`; everything else (which
responses, transform statistics, totals, rows) is decided here, torch-free.

Split by subdomain: `functions` (functions and versions), `resources` (what a worker
needs), `sync` (synchronous scoring requests), `drafts` (the composer's "try it" on an
unsaved spec), `runs` (score runs), `reuse` (raw values copied from earlier versions).
"""

from __future__ import annotations

from apps.rewards.services.drafts import (
    draft_version,
    reward_spec_check,
    score_draft_compute,
    score_draft_remote,
)
from apps.rewards.services.functions import (
    JUDGE_KEY_PREFIX,
    reward_function_create,
    reward_function_update,
    reward_function_version_create,
)
from apps.rewards.services.resources import scoring_resources
from apps.rewards.services.runs import (
    JOB_BATCH,
    score_run_claim,
    score_run_create,
    score_run_execute,
    score_run_fail,
)
from apps.rewards.services.sync import (
    WorkerTimeout,
    score_items_compute,
    score_items_remote,
    score_request_check,
)

__all__ = [
    "draft_version",
    "reward_spec_check",
    "score_draft_compute",
    "score_draft_remote",
    "JOB_BATCH",
    "JUDGE_KEY_PREFIX",
    "WorkerTimeout",
    "reward_function_create",
    "reward_function_update",
    "reward_function_version_create",
    "score_items_compute",
    "score_items_remote",
    "score_request_check",
    "score_run_claim",
    "score_run_create",
    "score_run_execute",
    "score_run_fail",
    "scoring_resources",
]
