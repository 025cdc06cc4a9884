"""Export a registered model to a self-contained folder (ONNX or TFLite) and score with it.

An export folder holds the model file, ``vocabulary.json`` (same format as the registry's),
``config.json`` (max_length, bucket widths, decision offsets, the source version, the
input and output names), a wide-and-deep model's ``wide.npz`` (the registry's) and a README. Scoring reuses :class:`SentimentClassifier` with a
runtime adapter in place of the Keras model, so tokenization, length bucketing, the token
budget and the decision offsets are exactly the nightly flow's.

What works here (TensorFlow 2.21, tf2onnx 1.17, onnxruntime 1.31; measured in
docs/benchmarks.md):

- ONNX: the model as trained, mask included, through ``keras.Model.export(format="onnx")``
  (tf2onnx). Keras 3's LSTM on the TensorFlow backend is a ``while`` loop whether masked
  or not (the fused kernel exists only for cuDNN), so tf2onnx emits an ONNX ``Loop``
  either way: an unmasked twin would not become a native ``LSTM`` op here, and the masked
  graph is exact on right-padded bucketed batches. Dynamic quantization stores the
  MatMul weights as int8 (~4x smaller file).
- TFLite: builtin ops need a fixed input shape, so the signature is ``(1, max_length)``
  (one review, padded; the mask keeps it exact). A dynamic batch needs Flex (Select TF)
  ops, which the Python ``tf.lite.Interpreter`` shipped here cannot run; a converted
  fixed shape cannot be resized. Full-integer quantization of LSTMs crashes the
  converter, so ``--quantize dynamic`` is dynamic-range (int8 weights, float activations).
- Export from a process that sees no GPU: on a GPU the LSTM traces to cuDNN ops that
  neither converter supports (``sentiment export`` hides GPUs).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from sentiment_model.core.errors import ConfigError, is_write_refusal, storage_write_error
from sentiment_model.core.schema import LABELS
from sentiment_model.model.text import Vocabulary
from sentiment_model.model.wide import WIDE_FILE, WideNgrams

if TYPE_CHECKING:  # imports Keras, and so TensorFlow: `sentiment export` checks its folder first
    from sentiment_model.model.classifier import SentimentClassifier

ExportFormat = Literal["onnx", "tflite"]
MODEL_FILES: dict[str, str] = {"onnx": "model.onnx", "tflite": "model.tflite"}
INPUT_NAME = "token_ids"


@dataclass
class OnnxModel:
    """An onnxruntime session with the two members of a Keras model that scoring uses
    (``output_shape``, ``predict_on_batch``); no layers, so explanations use occlusion."""

    path: str
    threads: int = 0
    layers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_shape = (None, len(LABELS))

    def predict_on_batch(self, ids: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(ids, dtype=np.int32)})[0]

    def get_layer(self, name: str) -> Any:
        raise ValueError(f"an ONNX model has no layer {name!r}")


@dataclass
class TfliteModel:
    """A TFLite interpreter over a fixed ``(1, max_length)`` signature: each row is padded
    to ``max_length`` and run alone."""

    path: str
    layers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=self.path)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.width = int(self.input["shape"][1])
        self.output_shape = (None, len(LABELS))

    def predict_on_batch(self, ids: np.ndarray) -> np.ndarray:
        padded = np.zeros((len(ids), self.width), dtype=np.int32)
        width = min(ids.shape[1], self.width)
        padded[:, :width] = ids[:, :width]
        out = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
        for row in range(len(ids)):
            self.interpreter.set_tensor(self.input["index"], padded[row : row + 1])
            self.interpreter.invoke()
            out[row] = self.interpreter.get_tensor(self.output["index"])[0]
        return out

    def get_layer(self, name: str) -> Any:
        raise ValueError(f"a TFLite model has no layer {name!r}")


def write_onnx(model: Any, path: Path, quantize: bool) -> None:
    """The Keras model as ONNX with a dynamic ``(batch, time)`` int32 input."""
    import tensorflow as tf

    signature = [tf.TensorSpec((None, None), tf.int32, name=INPUT_NAME)]
    if not quantize:
        model.export(str(path), format="onnx", input_signature=signature, verbose=False)
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        float_path = Path(tmp) / "float.onnx"
        model.export(str(float_path), format="onnx", input_signature=signature, verbose=False)
        quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)


def write_tflite(model: Any, path: Path, max_length: int, quantize: bool) -> None:
    """The Keras model as TFLite builtins with a fixed ``(1, max_length)`` input."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", input_signature=[tf.TensorSpec((1, max_length), tf.int32, name=INPUT_NAME)], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights
        path.write_bytes(converter.convert())


_WIDE_NOTE = """
The model is wide and deep: the network's probabilities p are combined with those of the
linear model in `wide.npz` (TF-IDF over the text's words and adjacent word pairs, see
`sentiment_model/model/wide.py`) as {combination} before the offsets apply. The network
alone is a little less accurate.
"""
_STACKED = "`softmax([log p, log p_wide, 1] @ combiner)` (the `combiner` array in `wide.npz`)"
_STACKED_BY_LENGTH = (
    "`softmax([l, l * z, z, 1] @ combiner)` with `l = [log p, log p_wide]` and the review's standardized length "
    "`z = (ln(1 + tokens) - length_norm[0]) / length_norm[1]` (all its tokens, not only the first `max_length`; "
    "the `combiner` and `length_norm` arrays in `wide.npz`)"
)

_README = """# Exported sentiment model ({format}{quantized})

Source model: `{version}`. Files: `{model_file}`, `vocabulary.json`, `config.json`.

Input `{input}`: int32 token ids, shape {shape}, right-padded with 0. Ids: 0 padding,
1 unknown token, 2 + i for `vocabulary.json`'s `tokens[i]`. Text is normalized and split
exactly as `sentiment_model.model.text.tokenize` does (lower case, HTML/URL/number/emoticon
markers, `!` and `?` kept as tokens), and cut to `max_length` = {max_length} tokens: {cut};
an empty text is a single unknown token. Title and body are joined as `title + " . " + body`.

Output: float32 probabilities, shape (batch, 3), classes {labels}. The label is
`argmax(log(p) + class_offsets)` with `config.json`'s `class_offsets` (prior correction
tuned on validation; none means plain argmax).
{wide}
{note}

Python: `sentiment_model.model.export.load_exported(folder).predict(["great kettle"])`.
"""


def _cut_note(max_length: int, head: int | None) -> str:
    if head is None:
        return f"a longer text keeps its first {max_length}"
    return f"a longer text keeps its first `truncation_head` = {head} and its last {max_length - head}"


def _wide_note(wide: WideNgrams) -> str:
    if wide.combiner is None:
        combination = f"`(1 - {wide.share}) * p + {wide.share} * p_wide`"
    else:
        combination = _STACKED_BY_LENGTH if wide.length_norm is not None else _STACKED
    return _WIDE_NOTE.format(combination=combination)


def check_export_folder(folder: str | Path) -> None:
    """The export folder must be new (or an empty folder) and its parent writable: one
    :class:`ConfigError` line now, before a model is loaded or anything is written."""
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"export folder {target} is a file, not a folder: choose a new folder")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"export folder {target} is not empty: choose a new folder")
    parent = next((p for p in target.resolve().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"export folder {target}: {parent} is a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):  # access() also says EROFS to root
        reason = "read-only file system" if os.statvfs(parent).f_flag & os.ST_RDONLY else "permission denied"
        raise ConfigError(f"export folder {target}: cannot write in {parent} ({reason})")


def export_classifier(classifier: SentimentClassifier, folder: str | Path, format: ExportFormat, quantize: bool = False) -> Path:
    """Write ``folder`` (created; must not exist or be empty) with the model in ``format``.
    The files are written to a hidden sibling folder that is renamed into place last, so
    an interrupted export leaves no folder that looks finished."""
    if format not in MODEL_FILES:
        raise ConfigError(f"unknown export format {format!r}: use one of {', '.join(MODEL_FILES)}")
    check_export_folder(folder)
    target = Path(folder)
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir(parents=True)
        _write_export(classifier, staging, format, quantize)
        if target.is_dir():
            target.rmdir()  # empty (checked): the rename takes its place
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if is_write_refusal(exc):
            raise storage_write_error(str(target), exc, "nothing was exported") from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _write_export(classifier: SentimentClassifier, target: Path, format: ExportFormat, quantize: bool) -> None:
    model_file = MODEL_FILES[format]
    if format == "onnx":
        write_onnx(classifier.model, target / model_file, quantize)
    else:
        write_tflite(classifier.model, target / model_file, classifier.max_length, quantize)
    offsets = None if classifier.class_offsets is None else np.asarray(classifier.class_offsets).tolist()
    config = {
        "format": format,
        "quantize": "dynamic" if quantize else None,
        "model_file": model_file,
        "source_version": classifier.version,
        "max_length": classifier.max_length,
        "truncation_head": classifier.truncation_head,
        "buckets": list(classifier.buckets),
        "class_offsets": offsets,
        "labels": list(LABELS),
        "input": INPUT_NAME,
        "input_shape": ["batch", "time"] if format == "onnx" else [1, classifier.max_length],
        "wide_file": None if classifier.wide is None else WIDE_FILE,
    }
    (target / "config.json").write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    (target / "vocabulary.json").write_bytes(orjson.dumps({"tokens": list(classifier.vocabulary.tokens)}))
    if classifier.wide is not None:
        (target / WIDE_FILE).write_bytes(classifier.wide.to_bytes())
    note = (
        "Any batch size and width work; pad each batch only to its longest row (the mask makes padding exact)."
        if format == "onnx"
        else f"The shape is fixed: one review per call, always padded to {classifier.max_length}."
    )
    (target / "README.md").write_text(
        _README.format(
            format=format,
            quantized=", int8 weights" if quantize else "",
            version=classifier.version,
            model_file=model_file,
            input=INPUT_NAME,
            shape="(batch, time)" if format == "onnx" else f"(1, {classifier.max_length})",
            max_length=classifier.max_length,
            cut=_cut_note(classifier.max_length, classifier.truncation_head),
            labels=", ".join(LABELS),
            note=note,
            wide=_wide_note(classifier.wide) if classifier.wide is not None else "",
        ),
        encoding="utf-8",
    )


def load_exported(folder: str | Path, threads: int = 0) -> SentimentClassifier:
    """A classifier that scores with an export folder's ONNX or TFLite model."""
    from sentiment_model.model.classifier import SentimentClassifier

    folder = Path(folder)
    try:
        config = orjson.loads((folder / "config.json").read_bytes())
        tokens = orjson.loads((folder / "vocabulary.json").read_bytes())["tokens"]
    except (OSError, orjson.JSONDecodeError, KeyError) as exc:
        raise ConfigError(f"{folder} is not an export folder (config.json / vocabulary.json): {exc}") from exc
    wide = None
    if config.get("wide_file"):
        wide = WideNgrams.read(folder / config["wide_file"])
    path = str(folder / config["model_file"])
    runtime = OnnxModel(path, threads) if config["format"] == "onnx" else TfliteModel(path)
    offsets = config.get("class_offsets")
    return SentimentClassifier(
        model=runtime,  # type: ignore[arg-type] - duck-typed: output_shape, predict_on_batch
        vocabulary=Vocabulary(tuple(tokens)),
        max_length=int(config["max_length"]),
        class_offsets=None if offsets is None else np.asarray(offsets),
        buckets=tuple(config["buckets"]),
        version=config.get("source_version"),
        wide=wide,
        truncation_head=config.get("truncation_head"),
    )


def onnx_twin(classifier: SentimentClassifier, quantize: bool = False, threads: int = 0) -> SentimentClassifier:
    """The classifier converted to ONNX now and scored by onnxruntime (the service's
    ``onnx`` runtime). The temporary folder is removed: the session holds the model."""
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as tmp:
        exported = load_exported(export_classifier(classifier, os.path.join(tmp, "export"), "onnx", quantize), threads)
    return exported
