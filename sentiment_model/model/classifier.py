"""The end-to-end classifier: raw text in, class probabilities and explanations out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.schema import EMPTY_TEXT_LABEL, LABELS, STAR_LABEL_IDS
from sentiment_model.model.batching import DEFAULT_BUCKETS, inference_batches, inference_widths, predict_bucketed
from sentiment_model.model.decision import apply_offsets, decision_scores
from sentiment_model.model.network import attention_model, star_model
from sentiment_model.model.subword import SubwordVocabulary
from sentiment_model.model.text import OOV_ID, OOV_TOKEN, PAD_ID, Vocabulary, kept_positions, pad_right, tokenize
from sentiment_model.model.wide import WideNgrams


@dataclass(frozen=True)
class Labelled:
    """What the classifier says of each text: a label (a class, or :data:`EMPTY_TEXT_LABEL`
    for a text without a token, whose probabilities are all 0), the probabilities, whether
    the model read only part of it, and on request the top tokens and the star a
    one-class-per-star model finds most likely (0: none). Sliceable per request."""

    version: str | None
    labels: tuple[str, ...]
    probabilities: np.ndarray
    read_partly: np.ndarray
    top_tokens: list[list[str]] | None = None
    stars: np.ndarray | None = None

    def __getitem__(self, rows: slice) -> Labelled:
        return Labelled(
            self.version,
            self.labels[rows],
            self.probabilities[rows],
            self.read_partly[rows],
            None if self.top_tokens is None else self.top_tokens[rows],
            None if self.stars is None else self.stars[rows],
        )

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class SentimentClassifier:
    """A trained network with its vocabulary, sequence length and decision offsets, and
    (wide and deep) the linear n-gram model its probabilities are averaged with."""

    model: keras.Model
    vocabulary: Vocabulary | SubwordVocabulary
    max_length: int
    class_offsets: np.ndarray | None = None
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    version: str | None = None
    wide: WideNgrams | None = None
    # A review longer than max_length is read as its first truncation_head tokens and its
    # last max_length - truncation_head (None: its first max_length, the models before round 14).
    truncation_head: int | None = None
    _attention: Any = field(default=None, repr=False)
    _stars: Any = field(default=None, repr=False)
    # One model, many scoring threads: one batch predicts at a time.
    _predict_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def label(self, texts: pa.Array | Sequence[str], top_tokens: int = 0) -> Labelled:
        """The one path from review text (``text.review_text``) to label that batch
        scoring, the service and ``explain`` share: tokenize once; a text without a token
        is :data:`EMPTY_TEXT_LABEL`, never predicted; the others are predicted in
        length-bucketed batches, averaged with the wide part and decided with the tuned
        offsets. ``top_tokens``: also each review's that many most attended tokens (attention
        models; none for others)."""
        texts = pa.array(texts, type=pa.string()) if not isinstance(texts, (pa.Array, pa.ChunkedArray)) else texts
        words = tokenize(texts)
        counts = pc.list_value_length(words).to_numpy(zero_copy_only=False)
        probabilities = np.zeros((len(counts), len(LABELS)), dtype=np.float32)
        labels = np.full(len(counts), EMPTY_TEXT_LABEL, dtype=object)
        tops: list[list[str]] = [[] for _ in range(len(counts))]
        stars = None if self.star_predictor() is None else np.zeros(len(counts), dtype=np.int8)
        scored = np.flatnonzero(counts > 0)
        if len(scored):
            rows = pa.array(scored)
            scored_probabilities, scored_tops, star_probabilities = self._predict_rows(texts.take(rows), words.take(rows), top_tokens)
            probabilities[scored] = scored_probabilities
            labels[scored] = np.array(LABELS, dtype=object)[self.decide(scored_probabilities)]
            for row, tokens in zip(scored, scored_tops, strict=True):
                tops[row] = tokens
            if stars is not None:
                stars[scored] = star_probabilities.argmax(1) + 1
        return Labelled(self.version, tuple(labels.tolist()), probabilities, counts > self.max_length, tops if top_tokens else None, stars)

    def _predict_rows(self, texts: pa.Array, words: pa.ListArray, top_tokens: int) -> tuple[np.ndarray, list[list[str]], np.ndarray | None]:
        """Probabilities (with the wide part), top tokens and, for a one-class-per-star
        model, star probabilities (else None) of texts that all have tokens, in one
        bucketed pass."""
        ids, lengths, words = self.encode_with_tokens(texts, words)
        explainer = self.attention_explainer() if top_tokens else None
        star_predictor = self.star_predictor()
        probabilities = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
        stars = None if star_predictor is None else np.zeros((len(ids), len(STAR_LABEL_IDS)), dtype=np.float32)
        tops: list[list[str]] = [[] for _ in range(len(ids))]
        names = ("", OOV_TOKEN, *self.vocabulary.tokens) if explainer is not None else ()
        for rows, width in inference_batches(lengths, self.prediction_widths):
            batch = ids[rows, :width]
            with self._predict_lock:
                if stars is not None:  # a second pass, paid by star models only
                    stars[rows] = np.asarray(star_predictor.predict_on_batch(batch))
                if explainer is None:
                    probabilities[rows] = np.asarray(self.model.predict_on_batch(batch))
                    continue
                batch_probabilities, weights = explainer.predict_on_batch(batch)
            probabilities[rows] = np.asarray(batch_probabilities)
            tops_of_batch = np.argsort(-np.where(batch == PAD_ID, -1.0, np.asarray(weights)), axis=1)[:, :top_tokens]
            for row, positions in zip(rows, tops_of_batch, strict=True):
                tops[row] = [names[ids[row, p]] for p in positions if ids[row, p] > OOV_ID]
        return self.with_wide(probabilities, words), tops, stars

    def predict(self, texts: pa.Array | Sequence[str]) -> list[str]:
        return list(self.label(texts).labels)

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Class probabilities and the tokens that drove the prediction: attention weights
        when the model has attention, else occlusion (drop each token, see the drop in the
        predicted class's probability). A text without a token is :data:`EMPTY_TEXT_LABEL`
        with zero probabilities, as :meth:`label` decides it."""
        ids, lengths, words = self.encode_with_tokens([text])
        if not len(words[0]):
            zeros = dict.fromkeys(LABELS, 0.0)
            return {"label": EMPTY_TEXT_LABEL, "probabilities": zeros, "decision_scores": zeros, "method": "none", "top_tokens": []}
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
