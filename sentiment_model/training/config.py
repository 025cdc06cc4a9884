"""What a training run depends on (``TrainConfig``) and what a retrain run adds
(``RetrainConfig``): the one home of their defaults, the measured winners
(docs/experiments.md). Importable without Keras: `sentiment retrain` builds its options
from these fields (name, type, default, description as help) before TensorFlow loads."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sentiment_model.model.sizes import DEFAULT_BUCKETS, MAX_LENGTH, NGRAM_MAX_VOCAB
from sentiment_model.teacher.config import TeacherConfig

#: The seed a run starts from unless told otherwise (training, split, samples, baseline).
SEED = 13


class TrainConfig(BaseModel):
    """Everything a training run depends on; saved with the model."""

    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(MAX_LENGTH, gt=0, description="Tokens kept per review.")
    truncation_head: int | None = Field(
        50,
        ge=0,
        description="A longer review keeps its first N tokens and its last max_length - N: the verdict often closes a long review (round 14). None (or >= max_length): its first max_length.",
    )
    vocabulary: Literal["word", "bpe", "wordpiece"] = Field("word", description="word: whole tokens, the most frequent vocab_size; bpe / wordpiece: subword pieces trained on the training text.")
    vocab_size: int = Field(20_000, gt=0, description="Words (or subword pieces) in the vocabulary.")
    min_count: int = Field(2, ge=1, description="Fewest training reviews a word needs to enter the vocabulary.")
    embeddings: str = Field(
        "glove-6b-50d",
        description="Init of the trainable embedding: random, word2vec (skip-gram on the training text), glove-6b-50d or a vectors file/folder (its width = embedding_dim). GloVe, fine-tuned, beside its frozen copy (round 3).",
    )
    embedding_dim: int = Field(50, gt=0, description="Trainable embedding size.")
    word2vec_epochs: int = Field(5, ge=0, description="Epochs of word2vec when embeddings is word2vec.")
    frozen_embeddings: str | None = Field("glove-6b-50d", description="A frozen pretrained channel beside the trainable embedding: glove-6b-50d, a vectors file, or none.")
    lstm_units: int = Field(128, gt=0, description="LSTM units per direction.")
    ngram_buckets: int = Field(262_139, ge=0, description="Hashed word-pair buckets of the linear n-gram branch beside the BiLSTM (0: none); a prime, so pairs spread evenly.")
    ngram_orders: Literal[2, 3] = Field(2, description='3: hashed word triples as well ("not worth the"), in their own table of ngram_buckets.')
    ngram_rate_scale: float = Field(1.0, gt=0.0, description="The n-gram branch's output scale, i.e. its learning rate relative to the network's under Adam (a linear model converges in more passes).")
    ngram_warmup_epochs: int = Field(0, ge=0, description="Epochs fitting the n-gram branch alone before the whole network trains (0: joint from the start).")
    pooling: Literal["attention", "attention_max", "max", "last"] = Field("attention_max", description="How the BiLSTM's steps become one vector.")
    spatial_dropout: float = Field(0.25, ge=0.0, lt=1.0, description="Dropout of whole embedding channels.")
    dropout: float = Field(0.4, ge=0.0, lt=1.0, description="Dropout before the class scores.")
    batch_size: int = Field(64, gt=0, description="Reviews per training batch.")
    token_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Share of training tokens replaced by the unknown id, drawn anew each batch (0: none; the wide part already gives what it adds, round 11)."
    )
    epochs: int = Field(2, gt=0, description="Most epochs (early stopping on validation macro-F1); 2: where validation macro-F1 peaks on this corpus.")
    patience: int = Field(0, ge=0, description="Epochs without a better validation macro-F1 before training stops.")
    learning_rate: float = Field(2e-3, gt=0.0, description="Adam's learning rate.")
    learning_rate_schedule: Literal["constant", "cosine"] = Field("constant", description="constant, or cosine: decay the rate to 0 over all epochs' steps.")
    weight_average_momentum: float = Field(0.0, ge=0.0, lt=1.0, description="Momentum of an exponential moving average of the weights, swapped in at each epoch's end (0: none).")
    imbalance: Literal["class_weight", "sqrt_class_weight", "oversample", "none"] = Field(
        "sqrt_class_weight", description="Against the 78% positive prior: class_weight (balanced), sqrt_class_weight (its square root), oversample or none; the prior correction is tuned either way."
    )
    star_loss_weight: float = Field(0.5, ge=0.0, description="Weight of an auxiliary 5-star softmax loss (0: no star head): 2 vs 3 vs 4 stars is the signal the neutral class lacks.")
    classes: Literal["sentiment", "stars"] = Field("sentiment", description="sentiment: 3 classes; stars: one class per star, folded into the 3 to decide, score and judge.")
    tune_offsets: bool = Field(True, description="Tune the prior correction (class offsets) on validation.")
    ensemble_size: int = Field(1, ge=1, description="Seeds trained (seed, seed+1, ...): averaged, or distilled with distill.")
    distill: bool = Field(False, description="Distil the seed ensemble into one network, kept when within distill_tolerance of the ensemble's validation macro-F1.")
    distill_alpha: float = Field(0.7, ge=0.0, le=1.0, description="Weight of the ensemble's averaged probabilities (vs the hard labels) in distillation.")
    distill_tolerance: float = Field(0.005, description="The distilled network is kept when its validation macro-F1 is within this of the ensemble's.")
    teacher_alpha: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Student training (a teacher's probabilities given): weight of the teacher's probabilities vs the hard labels in a real row's target (augmented rows: the teacher's alone); 0, 0.7 and 1 level on validation (one run each, docs/experiments.md).",
    )
    # 0: one augmented copy cost the whole-epoch teacher's student 0.025 validation macro-F1
    # (0.040 for its network alone; docs/experiments.md, "students of a whole-epoch teacher").
    augment_factor: int = Field(
        0,
        ge=0,
        description="Student training: augmented texts (training/augment.py) per training text, labelled by the teacher (0: none); each adds the training split's size to every epoch and to the teacher's inference.",
    )
    augment_mask: float = Field(0.1, ge=0.0, le=1.0, description="Augmentation: share of words masked (Tang et al. 2019: 0.1).")
    augment_replace: float = Field(0.1, ge=0.0, le=1.0, description="Augmentation: share of words replaced by a training word of similar frequency (Tang et al.: 0.1, by part of speech).")
    augment_ngram: float = Field(0.25, ge=0.0, le=1.0, description="Augmentation: share of texts cut to a random run of 1-5 tokens (Tang et al.: 0.25).")
    augment_negation: float = Field(0.15, ge=0.0, le=1.0, description='Augmentation: share of texts with a "not" removed or inserted after is/was/do/...')
    augment_contrast: float = Field(0.15, ge=0.0, le=1.0, description='Augmentation: share of texts joined with a clause of another review ("A, but B" / "although A, B").')
    augment_weight: float = Field(1.0, gt=0.0, description="Student training: an augmented row's loss weight against a real row's of the teacher's class (below 1: the real rows lead).")
    wide_terms: int = Field(200_000, ge=0, description="Most common words and word pairs of the wide part, a linear model fitted beside the network (0: the network alone; round 9).")
    wide_c: float = Field(4.0, gt=0.0, description="The inverse L2 strength of the wide part's logistic regression.")
    wide_combiner: Literal["stacked_length", "stacked", "share"] = Field(
        "stacked_length",
        description="stacked: a logistic regression over both parts' log-probabilities, fitted on validation; stacked_length: its weights also move with the review's length; share: one average weight (rounds 12-13).",
    )
    wide_stack_c: float = Field(0.1, gt=0.0, description="The inverse L2 strength of the stacked combiner.")
    seed: int = Field(SEED, description="Training seed.")
    mixed_precision: bool = Field(False, description="Train in mixed float16 (a GPU with tensor cores).")
    use_mask: bool = Field(True, description="Mask padding in the BiLSTM.")
    buckets: tuple[int, ...] = Field(DEFAULT_BUCKETS, min_length=1, description="Widths training batches are padded to, comma-separated; the last should be max_length.")

    @model_validator(mode="after")
    def _ngram_ids_fit_int32(self) -> TrainConfig:
        if self.ngram_buckets and self.vocab_size + 2 > NGRAM_MAX_VOCAB:
            raise ValueError(f"ngram_buckets needs vocab_size <= {NGRAM_MAX_VOCAB - 2} (bigram ids are int32), got {self.vocab_size}")
        return self

    @model_validator(mode="after")
    def _stars_need_the_star_loss(self) -> TrainConfig:
        if self.classes == "stars" and self.star_loss_weight <= 0:
            raise ValueError("classes='stars' learns the stars from the star loss: star_loss_weight must be > 0")
        return self

    @model_validator(mode="after")
    def _augmentation_rules_share_one_draw(self) -> TrainConfig:
        if self.augment_mask + self.augment_replace > 1 or self.augment_ngram + self.augment_negation + self.augment_contrast > 1:
            raise ValueError("augment_mask + augment_replace and augment_ngram + augment_negation + augment_contrast must each be <= 1 (one draw picks at most one rule)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RetrainConfig(BaseModel):
    """A retrain run: which rows it learns from, the network's training settings, and the
    promotion gate. The `retrain` flow's parameter (a form in the Prefect UI) and what the
    CLI builds; the defaults here are the ones `sentiment retrain` uses."""

    model_config = ConfigDict(extra="forbid")

    sample_size: int | None = Field(None, ge=0, description="Stratified subsample of the training split; none (or 0) = all of it.")
    split_seed: int = Field(SEED, description="Seed of the train/validation/test split (fixed so champions compare on one test split).")
    train_before: dt.date | None = Field(None, description="Learn only from reviews dated before this day, as production retrains do (no leak into later nightly batches).")
    promotion_tolerance: float = Field(0.0, description="Promote when test macro-F1 >= the champion's minus this.")
    bootstrap_resamples: int = Field(1_000, ge=1, description="Paired bootstrap resamples of the test split for the intervals.")
    student_of_teacher: bool = Field(
        False,
        description="Fine-tune the MiniLM teacher (the teacher extra; kept under teachers/ by snapshot, rows and config) and train the network as its student on its soft labels and augmented text.",
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)

    @field_validator("sample_size")
    @classmethod
    def _zero_is_all(cls, value: int | None) -> int | None:
        return value or None
