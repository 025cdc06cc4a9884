"""A model trained under JAX loads and predicts identically under TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).parents[2]

TRAIN_UNDER_JAX = textwrap.dedent(
    """
    import sys, numpy as np, keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from sentiment_model.training.data import split_train_validation_test
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import save_model
    from sentiment_model.training.data import texts_and_labels
    from sentiment_model.training.train import TrainConfig, train_classifier
    from sentiment_model.training.metrics import classification_metrics
    from tests.conftest import synthetic_reviews
    splits = split_train_validation_test(synthetic_reviews(400, seed=2), seed=2)
    config = TrainConfig(frozen_embeddings=None, embeddings="word2vec", ensemble_size=1, embedding_dim=16, lstm_units=8, epochs=2, batch_size=32, max_length=24, vocab_size=400, min_count=1, seed=5)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    texts, labels = texts_and_labels(splits["test"])
    probabilities = result.classifier.predict_proba(texts)
    metrics = {"test": classification_metrics(labels, probabilities)}
    save_model(DataRoot(sys.argv[1]), "20260101T000000Z-0000jax0", result.classifier, {"train": config.to_dict()}, metrics, {})
    np.save(sys.argv[2], probabilities)
    """
)


def test_jax_trained_model_scores_the_same_under_tensorflow(tmp_path):
    pytest.importorskip("jax")
    import keras

    assert keras.backend.backend() == "tensorflow"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-c", TRAIN_UNDER_JAX, str(tmp_path / "root"), str(tmp_path / "jax.npy")], check=True, env=env, cwd=PROJECT_ROOT, timeout=600)

    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.training.data import split_train_validation_test, texts_and_labels
    from tests.conftest import synthetic_reviews

    classifier = load_classifier(DataRoot(str(tmp_path / "root")), "20260101T000000Z-0000jax0")
    texts, _ = texts_and_labels(split_train_validation_test(synthetic_reviews(400, seed=2), seed=2)["test"])
    under_tf = classifier.predict_proba(texts)
    under_jax = np.load(tmp_path / "jax.npy")
    np.testing.assert_allclose(under_tf, under_jax, atol=1e-5)
    assert (under_tf.argmax(1) == under_jax.argmax(1)).all()
