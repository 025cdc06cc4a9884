"""Early stopping on validation macro-F1 (after the prior correction, when tuned), with
the best epoch's weights restored at the end of training."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from sentiment_model.model.batching import predict_bucketed
from sentiment_model.model.decision import apply_offsets
from sentiment_model.model.network import inference_model
from sentiment_model.training.metrics import macro_f1, tune_class_offsets


class MacroF1EarlyStopping(keras.callbacks.Callback):
    """Stop when validation macro-F1 (after prior correction, if enabled) stops improving;
    restore the best epoch's weights at the end."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, labels: np.ndarray, patience: int, tune_offsets: bool, widths: tuple[int, ...], log: Callable[[str], None]) -> None:
        super().__init__()
        self.ids, self.lengths, self.labels = ids, lengths, labels
        self.patience, self.tune_offsets, self.widths, self.log = patience, tune_offsets, widths, log
        self.best, self.best_epoch, self.best_weights, self.wait = -1.0, -1, None, 0
        self.best_offsets: np.ndarray | None = None
        self.history: list[dict[str, float]] = []
        self._epoch_started = 0.0
        self._inference: keras.Model | None = None

    @property
    def inference(self) -> keras.Model:
        """The trained network's class-probability model, built once: every new model
        traces its predict function anew (~0.5 s)."""
        if self._inference is None:
            self._inference = inference_model(self.model)
        return self._inference

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_started
        probabilities = predict_bucketed(self.inference, self.ids, self.lengths, self.widths)
        raw = macro_f1(self.labels, probabilities.argmax(1))
        offsets = tune_class_offsets(probabilities, self.labels) if self.tune_offsets else np.zeros(3)
        tuned = macro_f1(self.labels, apply_offsets(probabilities, offsets))
        score = tuned if self.tune_offsets else raw
        record = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", np.nan)), "val_macro_f1": raw, "val_macro_f1_tuned": tuned, "epoch_seconds": seconds}
        self.history.append(record)
        self.log(f"epoch {epoch + 1}: loss {record['loss']:.4f}, val macro-F1 {raw:.4f} (tuned {tuned:.4f}), {seconds:.0f}s")
        if score > self.best:
            self.best, self.best_epoch, self.best_offsets, self.wait = score, epoch + 1, offsets, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
