"""The classifier network: Embedding (+ a frozen pretrained channel) -> BiLSTM ->
pooling -> dropout -> class scores (+ an optional linear bag-of-n-grams branch) ->
softmax(3), with an optional auxiliary softmax over the 5 star
ratings used only in training; or, with ``star_classes``, one class per star whose
five probabilities fold into the three classes (both kept in the saved model).

Backend-agnostic Keras 3 (keras.ops only). The LSTM keeps the fused cuDNN path on a GPU
with TensorFlow: recurrent_dropout=0, tanh/sigmoid, use_bias, right-padded input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import keras
from keras import layers, ops

from sentiment_model.core.schema import LABELS, STAR_LABEL_IDS
from sentiment_model.model.sizes import NGRAM_MAX_VOCAB

Pooling = Literal["attention", "attention_max", "max", "last"]


@dataclass
class ModelConfig:
    """Network sizes. Defaults follow the seed design (128-dim embedding, 128 units)."""

    vocab_size: int
    embedding_dim: int = 128
    lstm_units: int = 128
    pooling: Pooling = "attention_max"
    spatial_dropout: float = 0.25
    dropout: float = 0.4
    num_classes: int = 3
    use_mask: bool = True  # False: the cuDNN fast path under JAX/torch (batches bucketed by length)
    # Width of a frozen pretrained-vector channel concatenated with the trainable
    # embedding (0: none). Frozen, the vectors keep what they know about words the
    # training text rarely shows; the trainable channel learns the task.
    frozen_embedding_dim: int = 0
    star_head: bool = False  # a second softmax over the 1-5 star rating (training only)
    # Hashed bigram buckets of a linear bag-of-n-grams branch whose class scores are added
    # to the BiLSTM's (0: none). Word pairs the sequence model sees too rarely to learn
    # ("not worth", "stopped working") get their own weight, as in TF-IDF+LR.
    ngram_buckets: int = 0
    ngram_orders: int = 2  # 3: hashed word triples too, in a table of ngram_buckets rows
    ngram_rate_scale: float = 1.0  # the branch's output scale = its rate relative to the network's
    # One class per star: the head is a softmax over the 5 stars (star_head's target) and
    # the 3 class probabilities are its fold (1-2 / 3 / 4-5), so the model scores,
    # decides and is judged like a 3-class one while keeping the finer view.
    star_classes: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@keras.saving.register_keras_serializable(package="sentiment_model")
class AttentionPooling(layers.Layer):
    """Additive attention over time steps, masked so padding gets zero weight.

    Returns ``(pooled, weights)``: the weights explain which tokens drove a prediction.
    """

    def __init__(self, units: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features = input_shape[-1]
        self.projection = self.add_weight(name="projection", shape=(features, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.context = self.add_weight(name="context", shape=(self.units,), initializer="glorot_uniform")

    def call(self, sequence: Any, mask: Any = None) -> tuple[Any, Any]:
        scores = ops.tensordot(ops.tanh(ops.matmul(sequence, self.projection) + self.bias), self.context, axes=1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        pooled = ops.sum(sequence * ops.expand_dims(weights, -1), axis=1)
        return pooled, weights

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
        return (input_shape[0], input_shape[-1]), (input_shape[0], input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="sentiment_model")
class MaskedMaxPooling(layers.Layer):
    """Max over time steps that ignores padding."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, sequence: Any, mask: Any = None) -> Any:
        if mask is not None:
            sequence = ops.where(ops.expand_dims(mask, -1), sequence, ops.full_like(sequence, -1e9))
        return ops.max(sequence, axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="sentiment_model")
class NgramScores(layers.Layer):
    """Per-class scores of a linear bag of unigrams, hashed bigrams and (``orders=3``)
    hashed trigrams over the token ids: one weight vector per n-gram, summed and scaled by
    ``rate_scale``/sqrt(n-grams), padding (id 0) ignored.

    A bigram's bucket is ``(first * vocab_size + second) mod buckets``; int32 arithmetic
    is exact while vocab_size**2 < 2**31, so the vocabulary is capped at 46,340. A
    trigram's is ``(bigram_bucket * TRIGRAM_MULTIPLIER + third) mod buckets``, exact while
    buckets * TRIGRAM_MULTIPLIER + vocab_size < 2**31.

    ``rate_scale`` multiplies the branch's output and so, under Adam (whose steps do not
    depend on the gradient's scale), the rate at which its scores move: a linear model
    over rare n-grams learns in two epochs what it would otherwise need many for."""

    MAX_VOCAB = NGRAM_MAX_VOCAB
    TRIGRAM_MULTIPLIER = 4_099

    def __init__(self, vocab_size: int, buckets: int, num_classes: int = 3, orders: int = 2, rate_scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if vocab_size > self.MAX_VOCAB:
            raise ValueError(f"n-gram scores need vocab_size <= {self.MAX_VOCAB}, got {vocab_size}")
        if orders not in (2, 3):
            raise ValueError(f"n-gram orders must be 2 or 3, got {orders}")
        if orders == 3 and buckets * self.TRIGRAM_MULTIPLIER + vocab_size >= 2**31:
            raise ValueError(f"trigram buckets need buckets <= {(2**31 - self.MAX_VOCAB) // self.TRIGRAM_MULTIPLIER}, got {buckets}")
        self.vocab_size, self.buckets, self.num_classes = vocab_size, buckets, num_classes
        self.orders, self.rate_scale = orders, rate_scale

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.unigrams = self.add_weight(name="unigrams", shape=(self.vocab_size, self.num_classes), initializer="zeros")
        self.bigrams = self.add_weight(name="bigrams", shape=(self.buckets, self.num_classes), initializer="zeros")
        if self.orders == 3:
            self.trigrams = self.add_weight(name="trigrams", shape=(self.buckets, self.num_classes), initializer="zeros")

    def call(self, token_ids: Any) -> Any:
        token_ids = ops.cast(token_ids, "int32")
        present = ops.cast(token_ids > 0, self.compute_dtype)
        first, second = token_ids[:, :-1], token_ids[:, 1:]
        pair_present = present[:, :-1] * present[:, 1:]
        bigram_ids = ops.mod(first * self.vocab_size + second, self.buckets)
        total = ops.sum(ops.take(self.unigrams, token_ids, axis=0) * ops.expand_dims(present, -1), axis=1)
        total = total + ops.sum(ops.take(self.bigrams, bigram_ids, axis=0) * ops.expand_dims(pair_present, -1), axis=1)
        count = ops.sum(present, axis=1, keepdims=True) + ops.sum(pair_present, axis=1, keepdims=True)
        if self.orders == 3:
            triple_present = pair_present[:, :-1] * present[:, 2:]
            trigram_ids = ops.mod(bigram_ids[:, :-1] * self.TRIGRAM_MULTIPLIER + token_ids[:, 2:], self.buckets)
            total = total + ops.sum(ops.take(self.trigrams, trigram_ids, axis=0) * ops.expand_dims(triple_present, -1), axis=1)
            count = count + ops.sum(triple_present, axis=1, keepdims=True)
        # Divided by sqrt(count), as TF-IDF's l2 norm scales a bag: a long review's
        # n-grams do not drown its sequence scores, and one weight still moves the logit.
        return self.rate_scale * total / ops.sqrt(ops.maximum(count, 1.0))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "buckets": self.buckets,
            "num_classes": self.num_classes,
            "orders": self.orders,
            "rate_scale": self.rate_scale,
        }


STAR_HEAD = "stars"
CLASS_HEAD = "probabilities"


@keras.saving.register_keras_serializable(package="sentiment_model")
class FoldStars(layers.Layer):
    """Class probabilities from star probabilities: p(class) = the sum over its stars
    (:data:`STAR_LABEL_IDS`, the labelling rule)."""

    def call(self, stars: Any) -> Any:
        fold = [[1.0 if label == c else 0.0 for c in range(len(LABELS))] for label in STAR_LABEL_IDS]
        return ops.matmul(stars, ops.convert_to_tensor(fold, dtype=stars.dtype))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], len(LABELS))


def build_model(config: ModelConfig, embedding_matrix: Any = None, frozen_matrix: Any = None) -> keras.Model:
    """The BiLSTM classifier over right-padded token ids (0 = padding).

    ``embedding_matrix`` initialises the trainable embedding; ``frozen_matrix``
    (vocab x ``frozen_embedding_dim``) fills the frozen channel. With ``star_head`` the
    model has two outputs, (class probabilities, star probabilities); use
    :func:`inference_model` to keep only the first for scoring."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = layers.Embedding(
        config.vocab_size,
        config.embedding_dim,
        mask_zero=config.use_mask,
        name="embedding",
        embeddings_initializer=keras.initializers.Constant(embedding_matrix) if embedding_matrix is not None else "uniform",
    )
    x = embedding(token_ids)
    if config.frozen_embedding_dim:
        frozen = layers.Embedding(
            config.vocab_size,
            config.frozen_embedding_dim,
            mask_zero=config.use_mask,
            trainable=False,
            name="frozen_embedding",
            embeddings_initializer=keras.initializers.Constant(frozen_matrix) if frozen_matrix is not None else "zeros",
        )
        x = layers.Concatenate(name="embeddings")([x, frozen(token_ids)])
    if config.spatial_dropout:
        x = layers.SpatialDropout1D(config.spatial_dropout, name="spatial_dropout")(x)
    keep_sequence = config.pooling != "last"
    # recurrent_dropout stays 0 and activations default: the conditions for fused cuDNN.
    x = layers.Bidirectional(layers.LSTM(config.lstm_units, return_sequences=keep_sequence), name="bilstm")(x)
    if config.pooling == "last":
        pooled = x
    elif config.pooling == "max":
        pooled = MaskedMaxPooling(name="max_pool")(x)
    else:
        attended, _weights = AttentionPooling(name="attention")(x)
        pooled = attended if config.pooling == "attention" else layers.Concatenate(name="pooled")([attended, MaskedMaxPooling(name="max_pool")(x)])
    pooled = layers.Dropout(config.dropout, name="dropout")(pooled)
    outputs, head = (len(STAR_LABEL_IDS), STAR_HEAD) if config.star_classes else (config.num_classes, CLASS_HEAD)
    if config.ngram_buckets:
        logits = layers.Dense(outputs, name="sequence_scores", dtype="float32")(pooled)
        ngram_scores = NgramScores(
            config.vocab_size,
            config.ngram_buckets,
            outputs,
            orders=config.ngram_orders,
            rate_scale=config.ngram_rate_scale,
            name="ngram_scores",
            dtype="float32",
        )(token_ids)
        logits = layers.Add(name="scores")([logits, ngram_scores])
        probabilities = layers.Activation("softmax", name=head, dtype="float32")(logits)
    else:
        probabilities = layers.Dense(outputs, activation="softmax", name=head, dtype="float32")(pooled)
    if config.star_classes:
        # Trained on both outputs: the class loss on the fold, the star loss on the stars.
        return keras.Model(token_ids, [FoldStars(name=CLASS_HEAD, dtype="float32")(probabilities), probabilities], name="bilstm_sentiment")
    if config.star_head:
        stars = layers.Dense(5, activation="softmax", name=STAR_HEAD, dtype="float32")(pooled)
        return keras.Model(token_ids, [probabilities, stars], name="bilstm_sentiment")
    return keras.Model(token_ids, probabilities, name="bilstm_sentiment")


def inference_model(model: keras.Model) -> keras.Model:
    """The class-probability output alone (an auxiliary star head only helps training; a
    one-class-per-star model keeps its star layer, which the class output is folded from)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.get_layer(CLASS_HEAD).output, name=model.name)


def average_members(members: list[keras.Model]) -> keras.Model:
    """One model that averages the members' probabilities (a seed ensemble), saved as one file."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    for index, member in enumerate(members):
        member.name = f"member_{index}"
    outputs = [member(token_ids) for member in members]
    return keras.Model(token_ids, layers.Average(name="probabilities_mean")(outputs), name="bilstm_ensemble")


def star_model(model: keras.Model) -> keras.Model | None:
    """The 5 star probabilities of a one-class-per-star model (a seed ensemble's mean), or
    None for a 3-class model."""
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)] or [model]
    try:
        star_layers = [member.get_layer(STAR_HEAD) for member in members]
    except ValueError:  # a 3-class network, or an exported (ONNX/TFLite) one
        return None
    heads = [keras.Model(member.inputs, layer.output) for member, layer in zip(members, star_layers, strict=True)]
    if len(heads) == 1:
        return heads[0]
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    return keras.Model(token_ids, layers.Average(name="stars_mean")([head(token_ids) for head in heads]))


def attention_model(model: keras.Model) -> keras.Model | None:
    """A model that returns ``(probabilities, attention weights)``, or None without attention.
    For a seed ensemble, the weights are the first member's and the probabilities the mean."""
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    holder = members[0] if members else model
    try:
        attention = holder.get_layer("attention")
    except ValueError:
        return None
    if not members:
        # One graph, two outputs: the network runs once. A nested model of the weights
        # would run the BiLSTM a second time (half the scoring rate, round 13).
        return keras.Model(model.inputs, [model.output, attention.output[1]])
    weights = keras.Model(holder.inputs, attention.output[1])
    return keras.Model(model.inputs, [model.output, weights(model.inputs[0])])
