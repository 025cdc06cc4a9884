"""The end-to-end classifier: raw text in, class probabilities and explanations out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pyarrow as pa

from sentiment_model.core.schema import LABELS
from sentiment_model.model.batching import DEFAULT_BUCKETS, inference_widths, predict_bucketed
from sentiment_model.model.decision import apply_offsets, decision_scores
from sentiment_model.model.network import attention_model, star_model
from sentiment_model.model.subword import SubwordVocabulary
from sentiment_model.model.text import OOV_ID, PAD_ID, Vocabulary, kept_positions, pad_right, tokenize
from sentiment_model.model.wide import WideNgrams


@dataclass
class SentimentClassifier:
    """A trained network with its vocabulary, sequence length and decision offsets, and
    (wide and deep) the linear n-gram model its probabilities are averaged with."""

    model: keras.Model
    vocabulary: Vocabulary | SubwordVocabulary
    max_length: int = 200
    class_offsets: np.ndarray | None = None
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    version: str | None = None
    wide: WideNgrams | None = None
    # A review longer than max_length is read as its first truncation_head tokens and its
    # last max_length - truncation_head (None: its first max_length, the models before round 14).
    truncation_head: int | None = None
    _attention: Any = field(default=None, repr=False)
    _stars: Any = field(default=None, repr=False)

    def attention_explainer(self) -> keras.Model | None:
        """The (probabilities, attention weights) model, built once: a new one per call
        would re-trace its graph for every batch shape."""
        if self._attention is None:
            self._attention = attention_model(self.model) or False
        return self._attention or None

    def star_predictor(self) -> keras.Model | None:
        """The 5 star probabilities' model of a one-class-per-star network (None for a
        3-class one), built once."""
        if self._stars is None:
            self._stars = star_model(self.model) or False
        return self._stars or None

    @property
    def prediction_widths(self) -> tuple[int, ...]:
        """The widths prediction batches are padded to (finer than the training
        ``buckets``: the padding does not change a masked network's output)."""
        return inference_widths(self.max_length)

    @property
    def has_star_classes(self) -> bool:
        return self.star_predictor() is not None

    def predict_star_proba_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
        """Probabilities of 1..5 stars (columns 0..4), or None for a 3-class model."""
        stars = self.star_predictor()
        return None if stars is None else predict_bucketed(stars, ids, lengths, self.prediction_widths)

    def encode(self, texts: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.vocabulary.encode(texts, self.max_length, self.truncation_head)

    def encode_with_tokens(self, texts: pa.Array | Sequence[str], tokens: pa.ListArray | None = None) -> tuple[np.ndarray, np.ndarray, pa.ListArray]:
        """(ids, lengths, word tokens), tokenizing once (or not at all, given ``texts``'
        tokens): the network reads the ids, the wide part the tokens."""
        tokens = tokenize(texts) if tokens is None else tokens
        if isinstance(self.vocabulary, SubwordVocabulary):
            ids, lengths = self.encode(texts)
        else:
            ids, lengths = pad_right(*self.vocabulary.lookup(tokens, self.max_length, self.truncation_head), self.max_length)
        return ids, lengths, tokens

    def predict_proba(self, texts: pa.Array | Sequence[str]) -> np.ndarray:
        ids, lengths, tokens = self.encode_with_tokens(texts)
        return self.with_wide(self.predict_proba_ids(ids, lengths), tokens)

    def predict_proba_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The network's probabilities alone (see :meth:`with_wide`)."""
        return predict_bucketed(self.model, ids, lengths, self.prediction_widths)

    def with_wide(self, network_probabilities: np.ndarray, tokens: pa.ListArray) -> np.ndarray:
        """The network's probabilities averaged with the wide part's (unchanged without one)."""
        return network_probabilities if self.wide is None else self.wide.blend(network_probabilities, tokens)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Label ids after the prior correction tuned on validation."""
        return apply_offsets(probabilities, self.class_offsets)

    def predict(self, texts: pa.Array | Sequence[str]) -> list[str]:
        return [LABELS[i] for i in self.decide(self.predict_proba(texts))]

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Class probabilities and the tokens that drove the prediction: attention weights
        when the model has attention, else occlusion (drop each token, see the drop in the
        predicted class's probability)."""
        ids, lengths, words = self.encode_with_tokens([text])
        pieces = self.vocabulary.pieces([text])[0] if isinstance(self.vocabulary, SubwordVocabulary) else words.to_pylist()[0]
        seen = kept_positions(np.array([len(pieces)]), self.max_length, self.truncation_head)
        tokens = [piece for piece, kept in zip(pieces, seen, strict=True) if kept] or [""]
        probabilities = self.with_wide(self.predict_proba_ids(ids, lengths), words)[0]
        predicted = int(self.decide(probabilities[None, :])[0])
        explainer = self.attention_explainer()
        if explainer is not None:
            _, weights = explainer.predict_on_batch(ids[:, : max(1, int(lengths[0]))])
            scores = np.asarray(weights)[0][: len(tokens)]
            method = "attention"
        else:
            n = int(lengths[0])
            occluded = np.repeat(ids[:, :n], n, axis=0)
            occluded[np.arange(n), np.arange(n)] = OOV_ID
            drops = probabilities[predicted] - np.asarray(self.model.predict_on_batch(occluded))[:, predicted]
            scores = drops[: len(tokens)]
            method = "occlusion"
        order = np.argsort(-scores, kind="stable")[:top_k]
        adjusted = decision_scores(probabilities[None, :], self.class_offsets)[0]
        explanation = {
            "label": LABELS[predicted],
            "probabilities": {name: float(p) for name, p in zip(LABELS, probabilities, strict=True)},
            "decision_scores": {name: float(s) for name, s in zip(LABELS, adjusted, strict=True)},  # the label is their argmax
            "method": method,
            "top_tokens": [{"token": tokens[i], "score": float(scores[i])} for i in order if ids[0, i] != PAD_ID],
        }
        stars = self.predict_star_proba_ids(ids, lengths)
        if stars is not None:  # a one-class-per-star model: the finer view its classes fold
            explanation["star_probabilities"] = {str(star): float(p) for star, p in enumerate(stars[0], start=1)}
        return explanation
