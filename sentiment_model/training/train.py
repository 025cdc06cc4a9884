"""Training: vocabulary from the training split, class-weighted BiLSTM (with a frozen
pretrained channel and an auxiliary star-rating head), early stopping on validation
macro-F1 with the best weights restored, optional seed ensemble distilled into one
network, then prior correction tuned on validation. The test split is never seen here."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import pyarrow as pa

from sentiment_model.model.batching import BucketedSequence, inference_widths, predict_bucketed
from sentiment_model.model.classifier import SentimentClassifier
from sentiment_model.model.decision import apply_offsets
from sentiment_model.model.network import CLASS_HEAD, STAR_HEAD, ModelConfig, average_members, build_model, inference_model
from sentiment_model.model.subword import SubwordVocabulary
from sentiment_model.model.text import Vocabulary, tokenize
from sentiment_model.model.vectors import load_word_vectors, read_vectors, vocabulary_matrix, word2vec_matrix
from sentiment_model.model.wide import WideNgrams, combiner_rows, review_lengths, select_terms
from sentiment_model.training.config import TrainConfig
from sentiment_model.training.data import star_ids, texts_and_labels
from sentiment_model.training.early_stopping import MacroF1EarlyStopping
from sentiment_model.training.metrics import fit_stacked_blend, macro_f1, tune_blend, tune_class_offsets

if TYPE_CHECKING:
    from sentiment_model.training.student import TeacherTargets


@dataclass
class TrainResult:
    classifier: SentimentClassifier
    history: list[dict[str, float]]
    best_epoch: int
    validation_macro_f1: float
    seconds: float
    train_samples_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    def network_alone(self) -> SentimentClassifier:
        """The classifier without its wide part, deciding with the prior correction tuned
        for the network alone: what the network is worth by itself."""
        wide = self.extra.get("wide")
        if wide is None:  # no wide part: the network is the model
            return self.classifier
        offsets = wide["network_class_offsets"]
        return dataclasses.replace(self.classifier, wide=None, class_offsets=None if offsets is None else np.asarray(offsets))


@dataclass(frozen=True)
class TrainingRows:
    """The rows a network trains on: token ids, true lengths, class targets (one-hot or
    soft), star targets (None: no star head) and sample weights."""

    ids: np.ndarray
    lengths: np.ndarray
    classes: np.ndarray
    stars: np.ndarray | None
    weights: np.ndarray

    def fit_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | tuple[np.ndarray, ...], np.ndarray]:
        return self.ids, self.lengths, self.classes if self.stars is None else (self.classes, self.stars), self.weights


def balanced_class_weights(labels: np.ndarray, num_classes: int = 3) -> np.ndarray:
    """n / (k * count_c), as sklearn's 'balanced'."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    return np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0)


def class_weights(labels: np.ndarray, imbalance: str, num_classes: int = 3) -> np.ndarray:
    """Per-class loss weights for an imbalance setting (ones unless weighted)."""
    if imbalance == "class_weight":
        return balanced_class_weights(labels, num_classes)
    if imbalance == "sqrt_class_weight":
        return np.sqrt(balanced_class_weights(labels, num_classes))
    return np.ones(num_classes)


def oversample_indices(labels: np.ndarray, seed: int) -> np.ndarray:
    """Repeat minority-class rows (sampled with replacement) up to the majority count."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    parts = []
    for label, count in enumerate(counts):
        rows = np.flatnonzero(labels == label)
        if count == 0:
            continue
        extra = rng.choice(rows, counts.max() - count, replace=True) if count < counts.max() else np.array([], dtype=np.int64)
        parts.append(np.concatenate([rows, extra]))
    return np.sort(np.concatenate(parts))


def build_vocabulary(texts: pa.Array, token_lists: pa.ListArray, config: TrainConfig) -> Vocabulary | SubwordVocabulary:
    """The vocabulary of the training text, word or subword as configured."""
    if config.vocabulary == "word":
        return Vocabulary.build(token_lists, config.vocab_size, config.min_count)
    return SubwordVocabulary.build(texts, config.vocabulary, config.vocab_size, config.min_count)


def initial_embeddings(
    config: TrainConfig, vocabulary: Vocabulary | SubwordVocabulary, train_texts: pa.Array, train_tokens: pa.ListArray, log: Callable[[str], None]
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, int]]:
    """(trainable init or None, frozen channel or None, vocabulary hits per source)."""
    hits: dict[str, int] = {}
    trainable = None
    if config.embeddings == "word2vec" and config.word2vec_epochs:
        sentences = pa.array(vocabulary.pieces(train_texts)) if isinstance(vocabulary, SubwordVocabulary) else train_tokens
        trainable, hits["word2vec"] = word2vec_matrix(sentences, vocabulary, config.embedding_dim, config.word2vec_epochs, config.seed)
    elif config.embeddings not in ("random", "word2vec"):
        trainable, hits[config.embeddings] = load_word_vectors(config.embeddings, vocabulary, config.embedding_dim, config.seed)
    frozen = None
    if config.frozen_embeddings:
        frozen, hits[f"frozen:{config.frozen_embeddings}"] = vocabulary_matrix(*read_vectors(config.frozen_embeddings), vocabulary, "zeros")
    for source, count in hits.items():
        log(f"embeddings {source}: {count} of {len(vocabulary) - 2} vocabulary tokens")
    return trainable, frozen, hits


def learning_rate_for(config: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The optimizer's learning rate: a constant, or a cosine decay to 0 over every step."""
    if config.learning_rate_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps_per_epoch * config.epochs))
    return config.learning_rate


def optimizer_for(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam with clipped gradients; with weight averaging, an exponential moving average
    of the weights that replaces them at the last step of every epoch."""
    averaging = {}
    if config.weight_average_momentum:
        averaging = {"use_ema": True, "ema_momentum": config.weight_average_momentum, "ema_overwrite_frequency": steps_per_epoch}
    return keras.optimizers.Adam(learning_rate_for(config, steps_per_epoch), clipnorm=1.0, **averaging)


def _fit_member(
    model_config: ModelConfig,
    config: TrainConfig,
    seed: int,
    data: tuple[np.ndarray, np.ndarray, np.ndarray | tuple[np.ndarray, ...], np.ndarray],
    stopper: MacroF1EarlyStopping,
    matrices: tuple[np.ndarray | None, np.ndarray | None],
) -> keras.Model:
    """One network trained from ``seed``; returns its inference model (class output)."""
    keras.utils.set_random_seed(seed)
    model = build_model(model_config, *matrices)
    ids, lengths, targets, weights = data
    batches = BucketedSequence(ids, lengths, targets, weights, config.batch_size, config.buckets, seed, token_dropout=config.token_dropout)
    optimizer = optimizer_for(config, len(batches))
    if model_config.star_head:
        model.compile(
            optimizer=optimizer,
            loss={CLASS_HEAD: "categorical_crossentropy", STAR_HEAD: "categorical_crossentropy"},
            loss_weights={CLASS_HEAD: 1.0, STAR_HEAD: config.star_loss_weight},
        )
    else:
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    if config.ngram_warmup_epochs and model_config.ngram_buckets and not model_config.star_classes:
        fit_ngram_branch(model, ids, lengths, targets[0] if isinstance(targets, tuple) else targets, weights, config, seed)
    build_training_state(model, ids, targets, weights)
    model.fit(batches, epochs=config.epochs, callbacks=[stopper], verbose=0)
    return stopper.inference


def build_training_state(model: keras.Model, ids: np.ndarray, targets: np.ndarray | tuple[np.ndarray, ...], weights: np.ndarray) -> None:
    """Create the optimizer's slots and the loss trackers now, from two rows. Without a
    distribution strategy Keras creates them inside the first traced train step, and a
    step that creates variables is traced twice: ~3 s more per network on 2 cores."""
    x, y, sample_weight = keras.tree.map_structure(lambda array: array[:2], (ids, targets, weights))
    model.compute_loss(x=x, y=y, y_pred=model(x), sample_weight=sample_weight)
    model.optimizer.build(model.trainable_variables)


def fit_ngram_branch(model: keras.Model, ids: np.ndarray, lengths: np.ndarray, class_targets: np.ndarray, weights: np.ndarray, config: TrainConfig, seed: int) -> None:
    """Fit ``model``'s n-gram branch alone, as a linear softmax model over the class
    targets, for ``config.ngram_warmup_epochs`` (its weights are shared with ``model``)."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    scores = model.get_layer("ngram_scores")(token_ids)
    linear = keras.Model(token_ids, keras.layers.Activation("softmax", dtype="float32")(scores), name="ngram_branch")
    batches = BucketedSequence(ids, lengths, class_targets, weights, config.batch_size, config.buckets, seed)
    linear.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=1.0), loss="categorical_crossentropy")
    build_training_state(linear, ids, class_targets, weights)
    linear.fit(batches, epochs=config.ngram_warmup_epochs, verbose=0)


def train_classifier(train: pa.Table, validation: pa.Table, config: TrainConfig, log: Callable[[str], None] = print, teacher: TeacherTargets | None = None) -> TrainResult:
    """Train the BiLSTM on ``train`` (labelled canonical rows), select on ``validation``;
    with ``teacher``, on its soft targets and augmented rows too (student.py's train_student)."""
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    started = time.perf_counter()
    train_texts, train_labels = texts_and_labels(train)
    validation_texts, validation_labels = texts_and_labels(validation)
    train_tokens = tokenize(train_texts)
    vocabulary = build_vocabulary(train_texts, train_tokens, config)
    train_ids, train_lengths = vocabulary.encode(train_texts, config.max_length, config.truncation_head)
    validation_ids, validation_lengths = vocabulary.encode(validation_texts, config.max_length, config.truncation_head)

    weights_per_class = class_weights(train_labels, config.imbalance)
    rows = oversample_indices(train_labels, config.seed) if config.imbalance == "oversample" else np.arange(len(train_labels))
    sample_weights = weights_per_class[train_labels[rows]]
    one_hot = np.eye(3, dtype=np.float32)[train_labels[rows]]
    star_one_hot = np.eye(5, dtype=np.float32)[star_ids(train)[rows]] if config.star_loss_weight else None

    training = TrainingRows(train_ids[rows], train_lengths[rows], one_hot, star_one_hot, sample_weights)
    extra: dict[str, Any] = {}
    if teacher is not None:
        from sentiment_model.training.student import student_rows  # student.py builds on this module

        training, extra["student"] = student_rows(teacher, training, rows, weights_per_class, vocabulary, config, log)

    embedding_matrix, frozen_matrix, hits = initial_embeddings(config, vocabulary, train_texts, train_tokens, log)
    model_config = model_config_for(config, len(vocabulary), 0 if frozen_matrix is None else frozen_matrix.shape[1])

    def stopper() -> MacroF1EarlyStopping:
        return MacroF1EarlyStopping(validation_ids, validation_lengths, validation_labels, config.patience, config.tune_offsets, inference_widths(config.max_length), log)

    def validation_score(network: keras.Model) -> tuple[np.ndarray, np.ndarray | None, float]:
        probabilities = predict_bucketed(network, validation_ids, validation_lengths, inference_widths(config.max_length))
        offsets = tune_class_offsets(probabilities, validation_labels) if config.tune_offsets else None
        return probabilities, offsets, macro_f1(validation_labels, apply_offsets(probabilities, offsets))

    members: list[keras.Model] = []
    history: list[dict[str, float]] = []
    best_epochs: list[int] = []
    fit_started = time.perf_counter()
    matrices = (embedding_matrix, frozen_matrix)
    for member_index in range(config.ensemble_size):
        member_seed = config.seed + member_index
        if config.ensemble_size > 1:
            log(f"ensemble member {member_index + 1}/{config.ensemble_size} (seed {member_seed})")
        member_stopper = stopper()
        members.append(_fit_member(model_config, config, member_seed, training.fit_data(), member_stopper, matrices))
        history += [{**h, "member": member_index} for h in member_stopper.history]
        best_epochs.append(member_stopper.best_epoch)
    model = members[0] if len(members) == 1 else average_members(members)
    network_probabilities, offsets, validation_f1 = validation_score(model)
    if len(members) > 1:
        log(f"ensemble of {len(members)}: val macro-F1 {validation_f1:.4f}")
    if config.distill and len(members) > 1:
        # The student learns the ensemble's averaged probabilities (which carry how
        # unsure the ensemble is) mixed with the hard labels.
        teacher = predict_bucketed(model, train_ids, train_lengths, inference_widths(config.max_length))[rows]
        soft = config.distill_alpha * teacher + (1 - config.distill_alpha) * one_hot
        student_seed = config.seed + config.ensemble_size
        log(f"distilling the ensemble into one network (seed {student_seed})")
        student_stopper = stopper()
        student = _fit_member(model_config, config, student_seed, dataclasses.replace(training, classes=soft.astype(np.float32)).fit_data(), student_stopper, matrices)
        history += [{**h, "member": "student"} for h in student_stopper.history]
        student_probabilities, student_offsets, student_f1 = validation_score(student)
        kept = student_is_kept(student_f1, validation_f1, config.distill_tolerance)
        log(f"student val macro-F1 {student_f1:.4f} vs ensemble {validation_f1:.4f}: {'student kept' if kept else 'ensemble kept'}")
        extra["distillation"] = {"student_validation_macro_f1": student_f1, "ensemble_validation_macro_f1": validation_f1, "student_kept": bool(kept), "student_best_epoch": student_stopper.best_epoch}
        if kept:
            model, network_probabilities, offsets, validation_f1 = student, student_probabilities, student_offsets, student_f1
            best_epochs.append(student_stopper.best_epoch)
    fit_seconds = time.perf_counter() - fit_started
    wide = None
    if config.wide_terms:
        # The network alone, as chosen above: its figures are kept for the reports.
        network_offsets, network_f1 = offsets, validation_f1
        wide, offsets, validation_f1, extra["wide"] = fit_wide(train_tokens, train_labels, tokenize(validation_texts), validation_labels, network_probabilities, config)
        extra["wide"].update(network_validation_macro_f1=network_f1, network_class_offsets=None if network_offsets is None else network_offsets.tolist())
        combined = extra["wide"]["combiner"] if wide.combiner is not None else f"share {wide.share:.1f}"
        log(f"wide part: {len(wide.terms):,} terms, {combined}, val macro-F1 {validation_f1:.4f} (network alone {network_f1:.4f})")
    classifier = SentimentClassifier(model, vocabulary, config.max_length, offsets, config.buckets, wide=wide, truncation_head=config.truncation_head)
    epoch_seconds = sum(h["epoch_seconds"] for h in history)
    return TrainResult(
        classifier=classifier,
        history=history,
        best_epoch=best_epochs[-1],
        validation_macro_f1=validation_f1,
        seconds=time.perf_counter() - started,
        train_samples_per_second=len(training.ids) * len(history) / max(epoch_seconds, 1e-9),
        extra={"model_config": model_config.to_dict(), "class_weights": weights_per_class.tolist(), "embedding_hits": hits, "fit_seconds": fit_seconds, "best_epochs": best_epochs, **extra},
    )


def student_is_kept(student_f1: float, ensemble_f1: float, tolerance: float) -> bool:
    """The distilled network replaces the ensemble when its validation macro-F1 is within
    ``tolerance`` of the ensemble's (one network scores ``ensemble_size`` times faster)."""
    return student_f1 >= ensemble_f1 - tolerance


def fit_wide(
    train_tokens: pa.ListArray,
    train_labels: np.ndarray,
    validation_tokens: pa.ListArray,
    validation_labels: np.ndarray,
    network_probabilities: np.ndarray,
    config: TrainConfig,
) -> tuple[WideNgrams, np.ndarray | None, float, dict[str, Any]]:
    """The wide part fitted on the training tokens; its combiner (or share) and the prior
    correction of the combination chosen on validation; returns (wide, offsets,
    validation macro-F1, facts). The share is the fallback: for a validation split
    without every class (a tiny sample), and where the stacked combiner would score below
    the network alone there."""
    started = time.perf_counter()
    wide = WideNgrams.fit(train_tokens, train_labels, max_terms=config.wide_terms, c=config.wide_c, seed=config.seed)
    wide_probabilities = wide.predict_proba(validation_tokens)
    facts: dict[str, Any] = {"terms": len(wide.terms), "combiner": "share"}
    share, offsets, validation_f1 = tune_blend(network_probabilities, wide_probabilities, validation_labels, tune_offsets=config.tune_offsets)
    combined = wide.with_share(share)
    if config.wide_combiner != "share" and len(np.unique(validation_labels)) == network_probabilities.shape[1]:
        length_norm, lengths = None, None
        if config.wide_combiner == "stacked_length":
            # Standardized on the rows the combiner is fitted on; a constant length stays 0.
            validation_lengths = review_lengths(validation_tokens)
            length_norm = (float(validation_lengths.mean()), float(validation_lengths.std()) or 1.0)
            lengths = (validation_lengths - length_norm[0]) / length_norm[1]
        combiner, stacked_offsets, stacked_f1 = fit_stacked_blend(network_probabilities, wide_probabilities, validation_labels, config.wide_stack_c, config.tune_offsets, lengths)
        # Kept unless below the network alone (the share's grid holds 0): never worse there.
        _, _, alone_f1 = tune_blend(network_probabilities, wide_probabilities, validation_labels, weights=(0.0,), tune_offsets=config.tune_offsets)
        facts["stacked_validation_macro_f1"], facts["share_validation_macro_f1"] = stacked_f1, validation_f1
        if stacked_f1 >= alone_f1:
            combined, offsets, validation_f1, share = wide.with_combiner(combiner, length_norm), stacked_offsets, stacked_f1, None
            facts["combiner"] = config.wide_combiner
    facts |= {"share": share, "fit_seconds": time.perf_counter() - started}
    return combined, offsets, validation_f1, facts


def model_config_for(config: TrainConfig, vocab_size: int, frozen_dim: int) -> ModelConfig:
    """The network's sizes for a run of ``config`` (the one place they are derived)."""
    return ModelConfig(
        vocab_size=vocab_size,
        embedding_dim=config.embedding_dim,
        lstm_units=config.lstm_units,
        pooling=config.pooling,
        spatial_dropout=config.spatial_dropout,
        dropout=config.dropout,
        use_mask=config.use_mask,
        frozen_embedding_dim=frozen_dim,
        star_head=bool(config.star_loss_weight),
        ngram_buckets=config.ngram_buckets,
        ngram_orders=config.ngram_orders,
        ngram_rate_scale=config.ngram_rate_scale,
        star_classes=config.classes == "stars",
    )


def scoring_networks(config: TrainConfig) -> tuple[int, int]:
    """(networks a review passes through when scoring, width of the frozen channel) for a
    model trained with ``config``: one network unless an undistilled ensemble."""
    networks = 1 if config.distill or config.ensemble_size == 1 else config.ensemble_size
    frozen_dim = read_vectors(config.frozen_embeddings)[1].shape[1] if config.frozen_embeddings else 0
    return networks, frozen_dim


def default_shaped_network(config: TrainConfig, vocab_size: int) -> keras.Model:
    """An untrained scoring network of the shape ``config`` trains (for speed and memory
    benchmarks, which do not depend on the weights)."""
    networks, frozen_dim = scoring_networks(config)
    model_config = model_config_for(config, vocab_size, frozen_dim)
    members = [inference_model(build_model(model_config)) for _ in range(networks)]
    return members[0] if networks == 1 else average_members(members)


def default_shaped_wide(config: TrainConfig, token_lists: pa.ListArray, share: float = 0.5) -> WideNgrams | None:
    """An unfitted wide part of the size ``config`` trains, its terms chosen from
    ``token_lists`` (zero weights: the same lookups and arithmetic as a fitted one),
    combined with the network as ``config`` combines them, for speed and memory
    benchmarks; None when ``config`` has no wide part."""
    if not config.wide_terms:
        return None
    terms, idf = select_terms(token_lists, config.wide_terms)
    wide = WideNgrams(terms, idf, np.zeros((len(terms), 3), dtype=np.float32), np.zeros(3, dtype=np.float32), share)
    if config.wide_combiner == "share":
        return wide
    by_length = config.wide_combiner == "stacked_length"
    return wide.with_combiner(np.zeros((combiner_rows(3, by_length), 3), dtype=np.float32), (4.0, 1.0) if by_length else None)
