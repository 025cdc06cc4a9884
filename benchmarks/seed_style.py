"""The seed design as users first wrote it, kept only to compare against: the Keras 2
``Tokenizer`` algorithm (a Python loop per text, re-implemented because Keras 3 dropped
it), left padding with ``pad_sequences``, ``recurrent_dropout=0.2``, no class weights."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TABLE = str.maketrans({c: " " for c in _FILTERS})


def text_to_word_sequence(text: str) -> list[str]:
    return [w for w in text.lower().translate(_TABLE).split(" ") if w]


class LegacyTokenizer:
    """Keras 2's Tokenizer: word counts, index by frequency, OOV token, num_words cap."""

    def __init__(self, num_words: int, oov_token: str = "<OOV>") -> None:
        self.num_words, self.oov_token = num_words, oov_token
        self.word_index: dict[str, int] = {}

    def fit_on_texts(self, texts: list[str]) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text_to_word_sequence(text))
        ordered = [self.oov_token] + [w for w, _ in counts.most_common()]
        self.word_index = {w: i + 1 for i, w in enumerate(ordered)}

    def texts_to_sequences(self, texts: list[str]) -> list[list[int]]:
        oov = self.word_index[self.oov_token]
        out = []
        for text in texts:
            sequence = []
            for word in text_to_word_sequence(text):
                index = self.word_index.get(word, oov)
                sequence.append(index if index < self.num_words else oov)
            out.append(sequence)
        return out


def seed_sequences(tokenizer: LegacyTokenizer, texts: list[str], max_length: int = 200) -> np.ndarray:
    """Left-padded, left-truncated (pad_sequences defaults)."""
    import keras

    return keras.utils.pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=max_length)


def seed_model(vocab_size: int, embedding_dim: int = 128, units: int = 128, recurrent_dropout: float = 0.2, one_hot: bool = False) -> keras.Model:
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            layers.Embedding(vocab_size, embedding_dim, mask_zero=True),
            layers.Bidirectional(layers.LSTM(units, dropout=0.2, recurrent_dropout=recurrent_dropout)),
            layers.Dropout(0.4),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy")
    return model
