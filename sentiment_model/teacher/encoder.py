"""The teacher's network: a BERT encoder (the shape of all-MiniLM-L6-v2: 6 layers, 384
wide, 12 heads) written with Keras 3 layers and ``keras.ops`` only, so it runs under
TensorFlow here and JAX or torch on a GPU worker; mean pooling over the real tokens (as the
sentence embedding was trained), and a 3-class softmax head. The pretrained tensors are
assigned by their Hugging Face names (:func:`pretrained_names`)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from sentiment_model.teacher.weights import BertShape, pretrained_tensors
from sentiment_model.teacher.wordpiece import PAD_ID

CLASS_HEAD = "classes"
POOLING = "mean_pooling"


def gelu(x: Any) -> Any:
    """BERT's GELU (the exact erf form, not the tanh approximation)."""
    return keras.activations.gelu(x, approximate=False)


class BertEmbeddings(keras.layers.Layer):
    """Word + position + segment-0 embeddings, normalized (one segment: a review)."""

    def __init__(self, shape: BertShape, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.word_embeddings = keras.layers.Embedding(shape.vocab_size, shape.hidden_size, name="word_embeddings")
        self.position_embeddings = keras.layers.Embedding(shape.max_positions, shape.hidden_size, name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(shape.type_vocab_size, shape.hidden_size, name="token_type_embeddings")
        self.norm = keras.layers.LayerNormalization(epsilon=shape.layer_norm_eps, name="LayerNorm")
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, ids: Any, training: bool | None = None) -> Any:
        positions = ops.expand_dims(ops.arange(ops.shape(ids)[1], dtype="int32"), 0)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(ops.zeros_like(ids))
        return self.dropout(self.norm(x), training=training)


class BertLayer(keras.layers.Layer):
    """One post-norm transformer layer: self-attention over the real tokens, then the
    feed-forward block, each with a residual and LayerNorm."""

    def __init__(self, shape: BertShape, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        width, heads = shape.hidden_size, shape.num_heads
        self.query = keras.layers.Dense(width, name="query")
        self.key = keras.layers.Dense(width, name="key")
        self.value = keras.layers.Dense(width, name="value")
        self.split_heads = keras.layers.Reshape((-1, heads, width // heads))
        self.merge_heads = keras.layers.Reshape((-1, width))
        self.attention_output = keras.layers.Dense(width, name="attention_output")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=shape.layer_norm_eps, name="attention_norm")
        self.intermediate = keras.layers.Dense(shape.intermediate_size, activation=gelu, name="intermediate")
        self.output_dense = keras.layers.Dense(width, name="output_dense")
        self.output_norm = keras.layers.LayerNormalization(epsilon=shape.layer_norm_eps, name="output_norm")
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, x: Any, mask: Any, training: bool | None = None) -> Any:
        # (batch, 1, 1, keys): every query attends to the review's real tokens only.
        attend = ops.expand_dims(ops.expand_dims(mask, 1), 1)
        q, k, v = (self.split_heads(layer(x)) for layer in (self.query, self.key, self.value))
        context = self.merge_heads(ops.dot_product_attention(q, k, v, mask=attend))
        x = self.attention_norm(x + self.dropout(self.attention_output(context), training=training))
        return self.output_norm(x + self.dropout(self.output_dense(self.intermediate(x)), training=training))


class PaddingMask(keras.layers.Layer):
    """True at real tokens, False at [PAD]."""

    def call(self, ids: Any) -> Any:
        return ops.not_equal(ids, PAD_ID)


class MeanPooling(keras.layers.Layer):
    """The mean of the real tokens' vectors: all-MiniLM-L6-v2's sentence embedding."""

    def call(self, x: Any, mask: Any) -> Any:
        weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1e-9)


def build_teacher(shape: BertShape, dropout: float, num_classes: int = 3, seed: int = 0) -> keras.Model:
    """Token ids (0 = padding) -> class probabilities; the encoder's weights start random
    (:func:`load_pretrained` assigns the checkpoint's)."""
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(ids)
    x = BertEmbeddings(shape, dropout, name="embeddings")(ids)
    for index in range(shape.num_layers):
        x = BertLayer(shape, dropout, name=f"layer_{index}")(x, mask)
    pooled = MeanPooling(name=POOLING)(x, mask)
    scores = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seed), name=CLASS_HEAD)(
        keras.layers.Dropout(dropout, seed=seed)(pooled)
    )
    return keras.Model(ids, scores, name="minilm_teacher")


def embedding_model(teacher: keras.Model) -> keras.Model:
    """The same encoder up to the mean-pooled sentence embedding (no head)."""
    return keras.Model(teacher.input, teacher.get_layer(POOLING).output)


def pretrained_names(teacher: keras.Model) -> dict[str, tuple[keras.Variable, bool]]:
    """Each checkpoint tensor's Hugging Face name -> the variable it fills and whether it
    is transposed on the way (torch's Linear keeps (out, in), a Dense kernel is (in, out))."""
    embeddings = teacher.get_layer("embeddings")
    names: dict[str, tuple[keras.Variable, bool]] = {
        "embeddings.word_embeddings.weight": (embeddings.word_embeddings.embeddings, False),
        "embeddings.position_embeddings.weight": (embeddings.position_embeddings.embeddings, False),
        "embeddings.token_type_embeddings.weight": (embeddings.token_type_embeddings.embeddings, False),
        "embeddings.LayerNorm.weight": (embeddings.norm.gamma, False),
        "embeddings.LayerNorm.bias": (embeddings.norm.beta, False),
    }
    index = 0
    while any(layer.name == f"layer_{index}" for layer in teacher.layers):
        layer, prefix = teacher.get_layer(f"layer_{index}"), f"encoder.layer.{index}"
        dense = {
            "attention.self.query": layer.query,
            "attention.self.key": layer.key,
            "attention.self.value": layer.value,
            "attention.output.dense": layer.attention_output,
            "intermediate.dense": layer.intermediate,
            "output.dense": layer.output_dense,
        }
        for name, part in dense.items():
            names[f"{prefix}.{name}.weight"] = (part.kernel, True)
            names[f"{prefix}.{name}.bias"] = (part.bias, False)
        for name, norm in (("attention.output.LayerNorm", layer.attention_norm), ("output.LayerNorm", layer.output_norm)):
            names[f"{prefix}.{name}.weight"] = (norm.gamma, False)
            names[f"{prefix}.{name}.bias"] = (norm.beta, False)
        index += 1
    return names


def load_pretrained(teacher: keras.Model) -> None:
    """Assign every encoder weight from the checkpoint (a shape that differs is an error)."""
    tensors = pretrained_tensors()
    for name, (variable, transpose) in pretrained_names(teacher).items():
        value = tensors[name].T if transpose else tensors[name]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{name}: checkpoint shape {value.shape}, encoder variable {variable.path} {variable.shape}")
        variable.assign(value)


def pretrained_teacher(shape: BertShape, dropout: float, seed: int = 0) -> keras.Model:
    """The classifier with the checkpoint's encoder and a fresh head."""
    teacher = build_teacher(shape, dropout, seed=seed)
    load_pretrained(teacher)
    return teacher
