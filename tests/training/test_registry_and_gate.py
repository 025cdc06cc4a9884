"""Registry and promotion gate with tiny models trained on synthetic reviews."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.model.classifier import SentimentClassifier
from sentiment_model.model.network import ModelConfig, build_model
from sentiment_model.model.registry import load_classifier, promotion_decision, read_champion, resolve_model_dir, save_model
from sentiment_model.serving.holder import Served, score_texts
from sentiment_model.training.data import split_train_validation_test, texts_and_labels
from sentiment_model.training.retrain import promotion_gate
from sentiment_model.training.train import TrainConfig, train_classifier
from tests.conftest import synthetic_reviews
from tests.tiny_model import tiny_config

TINY = tiny_config(patience=1)


@pytest.fixture(scope="module")
def tiny_trained():
    table = synthetic_reviews(600, seed=1)
    splits = split_train_validation_test(table, seed=1)
    return splits, train_classifier(splits["train"], splits["validation"], TINY, log=lambda _: None)


def register(root: DataRoot, version: str, classifier: SentimentClassifier, splits) -> str:
    from sentiment_model.training.metrics import classification_metrics

    texts, labels = texts_and_labels(splits["test"])
    probabilities = classifier.predict_proba(texts)
    metrics = {"test": classification_metrics(labels, probabilities, classifier.decide(probabilities))}
    save_model(root, version, classifier, {"train": TINY.to_dict()}, metrics, {"test": True}, figures={"confusion_matrix.png": b"\x89PNG\r\n\x1a\n"})
    return version


def test_tiny_model_learns_and_round_trips(tmp_path, tiny_trained):
    splits, result = tiny_trained
    assert result.validation_macro_f1 > 0.8  # the synthetic phrases are easy
    root = DataRoot(str(tmp_path))
    register(root, "20260101T000000Z-aaaaaaaa", result.classifier, splits)
    folder = root.models_dir("20260101T000000Z-aaaaaaaa")
    for name in ("model.keras", "vocabulary.json", "config.json", "metrics.json", "confusion_matrix.png", "fingerprint.json", "versions.json", "wide.npz"):
        assert root.exists(f"{folder}/{name}"), name
    loaded = load_classifier(root, "20260101T000000Z-aaaaaaaa")
    texts, _ = texts_and_labels(splits["test"])
    np.testing.assert_allclose(loaded.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-6)
    assert loaded.predict(texts) == result.classifier.predict(texts)
    assert loaded.class_offsets.tolist() == result.classifier.class_offsets.tolist()
    assert loaded.wide.share == result.classifier.wide.share and loaded.wide.terms.equals(result.classifier.wide.terms)
    # A review longer than max_length is read as its first 8 tokens and its last 16, by
    # the loaded model, the service's path (lookup uncut, then pad) and the explanation.
    assert loaded.truncation_head == 8
    long_texts = [f"{text} {' '.join(['filler'] * 30)} {text}" for text in texts.to_pylist()[:20]]
    np.testing.assert_allclose(loaded.predict_proba(long_texts), result.classifier.predict_proba(long_texts), atol=1e-6)
    np.testing.assert_allclose(score_texts(Served(loaded, "v"), long_texts).probabilities, loaded.predict_proba(long_texts), atol=1e-6)
    ids, lengths, words = loaded.encode_with_tokens(long_texts[:1])
    all_ids, _ = loaded.vocabulary.lookup(words)
    assert lengths[0] == 24 and ids[0].tolist() == [*all_ids[:8], *all_ids[-16:]]
    explained = loaded.explain(long_texts[0], top_k=24)
    seen = words.to_pylist()[0][:8] + words.to_pylist()[0][-16:]
    assert sorted(entry["token"] for entry in explained["top_tokens"]) == sorted(seen)


def test_the_wide_part_loads_from_remote_storage_and_a_damaged_one_is_named(tiny_trained):
    import uuid

    splits, result = tiny_trained
    root = DataRoot(f"memory://registry-{uuid.uuid4().hex}")
    version = register(root, "20260101T000000Z-bbbbbbbb", result.classifier, splits)
    texts, _ = texts_and_labels(splits["test"])
    np.testing.assert_allclose(load_classifier(root, version).predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-6)
    wide_file = f"{root.models_dir(version)}/wide.npz"
    root.fs.pipe_file(wide_file, b"not an npz")
    with pytest.raises(ConfigError, match=r"cannot load .*wide\.npz"):
        load_classifier(root, version)
    root.fs.rm(wide_file)
    with pytest.raises(ConfigError, match=r"wide\.npz is missing"):
        load_classifier(root, version)


def test_the_wide_part_is_fitted_its_combiner_chosen_on_validation_or_left_out(tiny_trained):
    splits, result = tiny_trained
    wide, facts = result.classifier.wide, result.extra["wide"]
    assert wide is not None and facts["combiner"] == ("stacked_length" if wide.combiner is not None else "share")
    assert wide.combiner is None or (wide.combiner.shape == (14, 3) and wide.length_norm is not None)
    assert facts["share"] == (None if wide.combiner is not None else wide.share)
    assert facts["terms"] == len(wide.terms) > 0
    # The network alone is the floor of both combiners: never worse on validation.
    assert result.validation_macro_f1 >= facts["network_validation_macro_f1"] - 1e-9
    plain = train_classifier(splits["train"], splits["validation"], TINY.model_copy(update={"wide_terms": 0}), log=lambda _: None)
    assert plain.classifier.wide is None and "wide" not in plain.extra


def test_promotion_rules():
    assert promotion_decision(0.70, None, 0.0)[0] is True
    assert promotion_decision(0.70, 0.70, 0.0)[0] is True  # not worse: promoted
    assert promotion_decision(0.69, 0.70, 0.0)[0] is False
    assert promotion_decision(0.69, 0.70, 0.02)[0] is True


def test_gate_promotes_first_keeps_worse_registered_and_never_promotes_corrupt(tmp_path, tiny_trained):
    """The gate is a library step: tested without Prefect."""
    splits, result = tiny_trained
    root = DataRoot(str(tmp_path))
    first = register(root, "20260101T000000Z-11111111", result.classifier, splits)
    decision = promotion_gate(root, first, splits["test"], 0.0)
    assert decision["promoted"] and read_champion(root)["version"] == first

    untrained = SentimentClassifier(build_model(ModelConfig(vocab_size=len(result.classifier.vocabulary), embedding_dim=16, lstm_units=8)), result.classifier.vocabulary, TINY.max_length)
    worse = register(root, "20260102T000000Z-22222222", untrained, splits)
    decision = promotion_gate(root, worse, splits["test"], 0.0)
    assert not decision["promoted"] and "not promoted" in decision["reason"]
    assert read_champion(root)["version"] == first
    assert root.exists(root.models_dir(worse))  # still registered

    corrupt = register(root, "20260103T000000Z-33333333", result.classifier, splits)
    root.fs.pipe_file(f"{root.models_dir(corrupt)}/model.keras", b"not a zip file")
    with pytest.raises(ConfigError, match="cannot load"):
        promotion_gate(root, corrupt, splits["test"], 0.0)
    assert read_champion(root)["version"] == first


def test_clear_errors_for_missing_models(tmp_path):
    root = DataRoot(str(tmp_path))
    with pytest.raises(ConfigError, match="no champion model"):
        resolve_model_dir(root, "champion")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_dir(root, "20990101T000000Z-deadbeef")
    root.write_json_atomic(root.champion_pointer(), {"version": "20990101T000000Z-deadbeef"})
    with pytest.raises(ConfigError, match="has no model.keras"):
        resolve_model_dir(root, "champion")


def test_seed_ensemble_is_one_model_that_round_trips_and_explains(tmp_path):
    splits = split_train_validation_test(synthetic_reviews(400, seed=6), seed=6)
    config = TrainConfig(frozen_embeddings=None, embeddings="word2vec", ensemble_size=2, embedding_dim=16, lstm_units=8, epochs=2, batch_size=32, max_length=24, vocab_size=400, min_count=1, seed=3)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    assert len([h for h in result.history if h["member"] == 1]) >= 1  # the second seed trained too
    root = DataRoot(str(tmp_path))
    register(root, "20260104T000000Z-44444444", result.classifier, splits)
    loaded = load_classifier(root, "20260104T000000Z-44444444")
    texts, _ = texts_and_labels(splits["test"])
    np.testing.assert_allclose(loaded.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-6)
    explanation = loaded.explain("the kettle is awful and terrible")
    assert explanation["method"] == "attention" and explanation["top_tokens"]


def test_pretrained_vectors_file_fills_the_embedding_matrix(tmp_path):
    from sentiment_model.model.text import Vocabulary, tokenize
    from sentiment_model.model.vectors import load_word_vectors

    vocabulary = Vocabulary.build(tokenize(["good bad good ugly"]), max_size=10, min_count=1)
    vectors = tmp_path / "tiny.vec"
    vectors.write_text("3 4\ngood 1 2 3 4\nbad -1 -2 -3 -4\nunrelated 9 9 9 9\n", encoding="utf-8")
    matrix, hits = load_word_vectors(str(vectors), vocabulary, dim=4)
    assert hits == 2 and matrix.shape == (len(vocabulary), 4)
    assert matrix[vocabulary.tokens.index("good") + 2].tolist() == [1, 2, 3, 4]
    assert matrix[vocabulary.tokens.index("bad") + 2].tolist() == [-1, -2, -3, -4]
    assert not matrix[0].any()  # padding row stays zero
    splits = split_train_validation_test(synthetic_reviews(300, seed=8), seed=8)
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} " + " ".join(["0.1"] * 16) + "\n" for w in ("great", "terrible", "kettle")), encoding="utf-8")
    config = TrainConfig(frozen_embeddings=None, ensemble_size=1, embedding_dim=16, lstm_units=8, epochs=1, max_length=24, min_count=1, embeddings=str(glove))
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    assert result.extra["embedding_hits"] == {str(glove): 3}
