"""What a teacher fine-tuning depends on (``TeacherConfig``): the one home of its defaults.
Importable without Keras or the teacher's extra, like ``training.config``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TeacherConfig(BaseModel):
    """Everything a fine-tuned teacher depends on (with the canonical snapshot: its cache key)."""

    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(128, gt=2, le=512, description="WordPiece tokens kept per review, [CLS] and [SEP] included (512: the encoder's positions).")
    # 16: every teacher in docs/experiments.md but the 22-minute one trained so; on a CPU the
    # examples/s is about the same at 32, so a budget of one epoch gets twice the updates.
    batch_size: int = Field(16, gt=0, description="Reviews per training batch.")
    epochs: int = Field(2, gt=0, description="Most epochs (early stopping on validation macro-F1).")
    patience: int = Field(0, ge=0, description="Epochs without a better validation macro-F1 before training stops.")
    learning_rate: float = Field(5e-5, gt=0.0, description="AdamW's peak learning rate, reached after the warmup and decayed linearly to 0.")
    warmup_share: float = Field(0.1, ge=0.0, lt=1.0, description="Share of the planned training steps (epochs x batches) with a linearly rising learning rate.")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW's decoupled weight decay (not on biases and LayerNorm).")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout in the encoder (as pretrained) and before the class scores.")
    imbalance: Literal["class_weight", "sqrt_class_weight", "none"] = Field(
        "sqrt_class_weight", description="Per-class loss weights against the 78% positive prior, as the student's: balanced, its square root, or none."
    )
    train_rows: int | None = Field(None, gt=0, description="Most training reviews (a seeded sample); none: all.")
    budget_minutes: float | None = Field(
        None, gt=0.0, description="Stop training after this long, with the learning rate's decay ending by then (then validate once more and keep the best); none: no limit."
    )
    eager: bool = Field(False, description="Run the steps eagerly: no TensorFlow tracing (~35 s for the first two batch widths), steps ~2x slower; for a few steps (tests, smoke runs).")
    seed: int = Field(0, description="Seed of the head's initialization, the shuffles and the row sample.")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
