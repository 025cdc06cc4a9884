"""The sizes a network's input is bound by, importable without Keras (the training
config and the CLI read them before TensorFlow loads): the one home of each."""

from __future__ import annotations

#: Tokens of a review the network reads (``TrainConfig.max_length``'s default; a trained
#: model keeps its own in its config.json).
MAX_LENGTH = 200
#: Widths training batches are padded to; the last is ``MAX_LENGTH`` (docs/experiments.md).
DEFAULT_BUCKETS: tuple[int, ...] = (16, 32, 64, 128, MAX_LENGTH)
#: Widths a prediction batch is padded to: finer than the training buckets, since a masked
#: network's output does not depend on its padding while each padded step costs as much
#: as a real one (round 13, docs/experiments.md).
#: Training keeps ``DEFAULT_BUCKETS``: its batches are shuffled within a bucket.
INFERENCE_WIDTHS: tuple[int, ...] = (8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, MAX_LENGTH)
#: Largest vocabulary whose word-pair ids (first * vocab + second) fit int32: isqrt(2**31).
NGRAM_MAX_VOCAB = 46_340
