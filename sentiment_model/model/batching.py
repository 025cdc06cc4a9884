"""Length-bucketed batches: sort by length, pad each batch only to a bucket edge.

Reviews average ~59 tokens; padding all to ``MAX_LENGTH`` would waste ~3x the compute. Buckets
are a few fixed widths so compiled graphs (TF, JAX) are reused, not retraced per batch.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from sentiment_model.model.sizes import DEFAULT_BUCKETS, INFERENCE_WIDTHS  # their home: read without Keras
from sentiment_model.model.text import OOV_ID


def bucket_widths(lengths: np.ndarray, buckets: tuple[int, ...]) -> np.ndarray:
    """Each length's bucket: the first edge >= it; longer rows are truncated to the last."""
    edges = np.asarray(buckets)
    return edges[np.minimum(np.searchsorted(edges, lengths, side="left"), len(edges) - 1)]


def bucket_width(length: int, buckets: tuple[int, ...]) -> int:
    return int(bucket_widths(np.asarray([length]), buckets)[0])


def inference_widths(max_length: int) -> tuple[int, ...]:
    """The prediction widths (:data:`INFERENCE_WIDTHS`) for ids of at most ``max_length``
    tokens; the last is ``max_length`` itself, so no row is cut."""
    return (*(width for width in INFERENCE_WIDTHS if width < max_length), max_length)


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Index batches of similar length. With ``rng``, ties are shuffled and batch order
    is random (training); without, order is deterministic (inference)."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


class BucketedSequence(keras.utils.PyDataset):
    """Training batches ``(ids, targets, sample_weight)`` cut to each batch's bucket width.

    ``targets`` is either label ids (1-D ints, one-hot encoded here), one 2-D float matrix
    (soft targets, e.g. a teacher's probabilities), or a tuple of 2-D matrices, one per
    model output (the sample weights then apply to every output)."""

    def __init__(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        targets: np.ndarray | tuple[np.ndarray, ...],
        sample_weights: np.ndarray,
        batch_size: int,
        buckets: tuple[int, ...] = DEFAULT_BUCKETS,
        seed: int = 0,
        num_classes: int = 3,
        token_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(targets, np.ndarray) and targets.ndim == 1:
            targets = np.eye(num_classes, dtype=np.float32)[targets]
        self.ids, self.lengths, self.targets, self.weights = ids, lengths, targets, sample_weights
        self.batch_size, self.buckets, self.token_dropout = batch_size, buckets, token_dropout
        self._rng = np.random.default_rng(seed)
        self._dropout_rng = np.random.default_rng([seed, 1])  # its own stream: batch order does not depend on the rate
        self._batches = self._shuffled_batches()

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def num_batches(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any, Any]:
        rows = self._batches[index]
        width = self._width(rows)
        weights = self.weights[rows].astype(np.float32)
        ids = self._dropped_out(self.ids[rows, :width])
        if isinstance(self.targets, tuple):
            return ids, tuple(t[rows].astype(np.float32) for t in self.targets), tuple(weights for _ in self.targets)
        return ids, self.targets[rows].astype(np.float32), weights

    def _dropped_out(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` with each token replaced by the out-of-vocabulary id at the rate
        ``token_dropout`` (a fresh draw every batch; padding stays padding)."""
        if self.token_dropout:  # ``ids`` is the batch's own copy (fancy indexing), so in place
            ids[(ids > OOV_ID) & (self._dropout_rng.random(ids.shape) < self.token_dropout)] = OOV_ID
        return ids

    def on_epoch_end(self) -> None:
        self._batches = self._shuffled_batches()

    def _width(self, rows: np.ndarray) -> int:
        return bucket_width(int(self.lengths[rows].max()), self.buckets)

    def _shuffled_batches(self) -> list[np.ndarray]:
        """Random batch order, with the first two batches of different widths: Keras infers
        the TF input signature from the first batches, and two of one width would fix the
        time dimension to that width instead of leaving it variable."""
        batches = bucketed_batches(self.lengths, self.batch_size, self._rng)
        if len(batches) > 1 and self._width(batches[0]) == self._width(batches[1]):
            for index in range(2, len(batches)):
                if self._width(batches[index]) != self._width(batches[0]):
                    batches[1], batches[index] = batches[index], batches[1]
                    break
        return batches


# Inference batches hold at most this many padded tokens. The BiLSTM's activations grow
# with rows x width, and on CPU the rate per token is flat from 40 to 1,024 rows, so a
# token budget keeps peak memory low without slowing scoring (docs/benchmarks.md, load).
MAX_BATCH_TOKENS = 16_384
MAX_BATCH_ROWS = 1_024
# A call's cost in row-steps: each time step costs a fixed overhead (the recurrent loop's,
# about as much as 12 rows' arithmetic on CPU) plus one per row. So a few reviews of
# several widths are cheaper in one call padded to the widest than in one call per width:
# the service's batch of 32 reviews spread over ten widths took 10 calls and ~900 steps,
# now one or two. A night's thousands of rows per width keep the fine widths.
STEP_COST_ROWS = 12


def _call_cost(rows: int, width: int, max_tokens: int, max_rows: int) -> int:
    """Row-steps of predicting ``rows`` rows padded to ``width`` within the budgets."""
    calls = -(-rows // _rows_per_call(width, max_tokens, max_rows))
    return width * (calls * STEP_COST_ROWS + rows)


def _rows_per_call(width: int, max_tokens: int, max_rows: int) -> int:
    return max(1, min(max_rows, max_tokens // width))


def inference_batches(
    lengths: np.ndarray,
    buckets: tuple[int, ...] = INFERENCE_WIDTHS,
    max_tokens: int = MAX_BATCH_TOKENS,
    max_rows: int = MAX_BATCH_ROWS,
) -> list[tuple[np.ndarray, int]]:
    """Deterministic ``(rows, width)`` batches for prediction: rows sorted by length and
    grouped by bucket width; neighbouring groups merged where one wider call costs less
    than one each (dynamic programming over :data:`STEP_COST_ROWS`); each batch at most
    ``max_rows`` rows and ``max_tokens`` padded tokens (never fewer than one row), padded to
    the narrowest bucket its longest row fits."""
    order = np.argsort(lengths, kind="stable")
    widths = bucket_widths(lengths[order], buckets)
    edges, starts = np.unique(widths, return_index=True)
    bounds = [*starts.tolist(), len(order)]
    # cheapest[j]: the cost of the first j width groups; cut[j]: where its last call group starts
    cheapest, cut = [0] + [0] * len(edges), [0] * (len(edges) + 1)
    for j in range(1, len(edges) + 1):
        options = ((cheapest[i] + _call_cost(bounds[j] - bounds[i], int(edges[j - 1]), max_tokens, max_rows), i) for i in range(j))
        cheapest[j], cut[j] = min(options)
    groups, j = [], len(edges)
    while j > 0:
        groups.append((bounds[cut[j]], bounds[j], int(edges[j - 1])))
        j = cut[j]
    batches = []
    for start, stop, width in reversed(groups):
        step = _rows_per_call(width, max_tokens, max_rows)
        # a chunk is padded to its own longest row's bucket (sorted: its last row)
        batches.extend((order[i : min(i + step, stop)], int(widths[min(i + step, stop) - 1])) for i in range(start, stop, step))
    return batches


def predict_bucketed(
    model: keras.Model,
    ids: np.ndarray,
    lengths: np.ndarray,
    buckets: tuple[int, ...] = INFERENCE_WIDTHS,
    max_tokens: int = MAX_BATCH_TOKENS,
) -> np.ndarray:
    """Class probabilities in input order, predicting length-sorted bucketed batches."""
    out = np.zeros((len(ids), model.output_shape[-1]), dtype=np.float32)
    for rows, width in inference_batches(lengths, buckets, max_tokens):
        out[rows] = np.asarray(model.predict_on_batch(ids[rows, :width]))
    return out
