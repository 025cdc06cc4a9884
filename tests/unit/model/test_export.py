"""Export round trips on the tiny champion: ONNX and TFLite score like Keras."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from sentiment_model.core.errors import ConfigError
from sentiment_model.model.export import export_classifier, load_exported
from sentiment_model.model.registry import load_classifier
from tests.conftest import synthetic_reviews


@pytest.fixture(scope="module")
def champion(tiny_champion_root):
    return load_classifier(tiny_champion_root)


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    table = synthetic_reviews(120, seed=21)
    return [f"{t} . {x}" for t, x in zip(table.column("title").to_pylist(), table.column("text").to_pylist(), strict=True)] + ["", "word " * 60]


def test_onnx_matches_keras(champion, sample_texts, tmp_path):
    folder = export_classifier(champion, tmp_path / "onnx", "onnx")
    assert champion.wide is not None  # wide and deep, as the defaults train it
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.onnx", "vocabulary.json", "wide.npz"]
    config = orjson.loads((folder / "config.json").read_bytes())
    assert config["source_version"] == champion.version and config["max_length"] == champion.max_length
    assert config["truncation_head"] == champion.truncation_head == 8  # a long review: its first 8 tokens and last 16
    exported = load_exported(folder)
    assert exported.truncation_head == 8
    assert exported.wide is not None and exported.wide.share == champion.wide.share and exported.wide.terms.equals(champion.wide.terms)
    assert np.allclose(exported.predict_proba(sample_texts), champion.predict_proba(sample_texts), atol=1e-5)
    assert exported.predict(sample_texts) == champion.predict(sample_texts)
    assert exported.explain("the cable is awful")["method"] == "occlusion"


def test_quantized_onnx_has_int8_weights_and_agrees_on_labels(champion, sample_texts, tmp_path):
    import onnx

    small = export_classifier(champion, tmp_path / "int8", "onnx", quantize=True)
    # The tiny model is too small for the file to shrink (scales and extra nodes dominate);
    # the default-size one is ~4x smaller (docs/benchmarks.md). Here: the weights are int8.
    graph = onnx.load(str(small / "model.onnx")).graph
    assert any(node.op_type == "MatMulInteger" for node in graph.node)
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)
    agreement = np.mean(np.array(load_exported(small).predict(sample_texts)) == np.array(champion.predict(sample_texts)))
    assert agreement >= 0.95


def test_tflite_matches_keras(champion, sample_texts, tmp_path):
    exported = load_exported(export_classifier(champion, tmp_path / "tflite", "tflite"))
    assert np.allclose(exported.predict_proba(sample_texts[:20]), champion.predict_proba(sample_texts[:20]), atol=1e-5)


def test_export_refuses_a_non_empty_folder_and_an_unknown_format(champion, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        export_classifier(champion, tmp_path / "taken", "onnx")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="unknown export format"):
        export_classifier(champion, tmp_path / "new", "savedmodel")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an export folder"):
        load_exported(tmp_path / "taken")
