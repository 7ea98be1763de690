"""A training run's settings: one Pydantic model, every field with a good default.

"Retrain" with no settings must give a good model, so the defaults are the ones
measured best on realistic multi-turn chat preferences (tests/benchmarks/bench_training.py
prints the comparison). No torch here: the web validates with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What is embedded for a response (see workers/ml/heads.py):
#   prompt_response (default): the end of the prompt (cut from the left so the latest
#     turns survive) and the response embedded separately, joined with their product;
#     measured better than context_response on multi-turn chats (0.725 vs 0.681 held-out
#     accuracy, MLP, 1,500 pairs) and cheaper to encode (one prompt per pair, not two);
#   context_response: the response with the end of its prompt, as one text;
#   response: the response alone.
Features = Literal["context_response", "prompt_response", "response"]


class TrainingSettings(BaseModel):
    """How one reward model is trained: the trainer, the head, and the optimisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: Literal["head", "finetune"] = Field(
        default="head",
        description="head: a small Bradley–Terry head on frozen sentence embeddings "
        "(seconds); finetune: fine-tune the whole backbone as a sequence classifier "
        "(TRL RewardTrainer's loss; meant for GPU workers).",
    )
    head_kind: Literal["linear", "mlp"] = "mlp"
    features: Features = "prompt_response"
    hidden_dim: int = Field(default=64, ge=4, le=4096)
    ensemble_size: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Heads trained on bootstrap samples; their spread is the uncertainty.",
    )
    epochs: int = Field(default=40, ge=1, le=500)
    learning_rate: float = Field(default=1e-3, gt=0, le=1.0)
    weight_decay: float = Field(default=1e-2, ge=0, le=10.0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)
    batch_size: int = Field(default=64, ge=1, le=4096)
    dropout: float = Field(default=0.1, ge=0, lt=1.0)
    patience: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Epochs without a better validation loss before stopping.",
    )
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: int = Field(default=0, ge=0)
    ties: Literal["drop", "half"] = Field(
        default="drop", description="drop ties, or keep them as 0.5 targets."
    )
    use_margin: bool = Field(
        default=False, description="Subtract margin_scale × strength from r_c − r_r in the loss."
    )
    margin_scale: float = Field(default=0.5, ge=0, le=10.0)
    include_imported: bool = True
    # Full fine-tuning (trainer="finetune"), TRL RewardTrainer's knobs.
    center_rewards_coefficient: float | None = Field(default=None, ge=0, le=10.0)
    finetune_learning_rate: float = Field(default=5e-5, gt=0, le=1.0)
    finetune_batch_size: int = Field(default=8, ge=1, le=512)
    finetune_epochs: int = Field(default=1, ge=1, le=50)
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop fine-tuning after this many steps."
    )
    max_length: int = Field(
        default=256, ge=16, le=512, description="Tokens per text when fine-tuning."
    )

    def margin(self, strength: int | None) -> float:
        """m(strength): the margin subtracted from r_c − r_r for a pair (0 when off)."""
        if not self.use_margin or strength is None:
            return 0.0
        return self.margin_scale * strength
